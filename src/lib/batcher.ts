/**
 * Natural batching: an item is run at once when a slot is free; items that arrive while every
 * slot is busy wait and go together in the next run. Latency stays low at low load, and under
 * load one database round trip (or one Redis pipeline) serves many callers.
 */
export interface BatcherOptions<In, Out> {
  /** Runs one batch; must return one result per item, in order. */
  run: (items: In[]) => Promise<Out[]>
  maxBatchSize: number
  /** Batches allowed in flight at once (for example, database connections to use). */
  concurrency: number
  /** Size of an item (bytes, say); a batch holds at most `maxBatchWeight`, or a single heavier item. */
  weight?: (item: In) => number
  maxBatchWeight?: number
  /**
   * When a batch of several items fails, run each item alone, so that one bad item fails only
   * its own caller instead of everyone who shared its batch. `onFailure`, when given, decides
   * instead.
   */
  isolateFailures?: boolean
  /**
   * Decides what a failed run means for its callers, for a batch and for an item run alone
   * during isolation: one settlement per item (in order), or `'isolate'` to run each item of a
   * batch alone (for a single item, `'isolate'` rejects it with `err`). A hook that throws
   * rejects every item with the run's error.
   */
  onFailure?: (items: In[], err: unknown) => Promise<Settlement<Out>[] | 'isolate'>
}

export type Settlement<Out> = { ok: true; value: Out } | { ok: false; error: unknown }

interface Pending<In, Out> {
  item: In
  resolve: (value: Out) => void
  reject: (reason: unknown) => void
}

export interface Batcher<In, Out> {
  push(item: In): Promise<Out>
  /** Resolves once nothing is queued or running. */
  drain(): Promise<void>
}

export function createBatcher<In, Out>(options: BatcherOptions<In, Out>): Batcher<In, Out> {
  const queue: Pending<In, Out>[] = []
  let running = 0
  let scheduled = false
  let idleWaiters: Array<() => void> = []

  const settleIdle = (): void => {
    if (running === 0 && queue.length === 0) {
      const waiters = idleWaiters
      idleWaiters = []
      for (const resolve of waiters) resolve()
    }
  }

  const decide = async (batch: Pending<In, Out>[], err: unknown): Promise<Settlement<Out>[] | 'isolate'> => {
    if (!options.onFailure) return options.isolateFailures ? 'isolate' : batch.map(() => ({ ok: false, error: err }))
    try {
      const decided = await options.onFailure(
        batch.map((p) => p.item),
        err,
      )
      if (decided === 'isolate' || decided.length === batch.length) return decided
      throw new Error(`onFailure returned ${decided.length} settlements for ${batch.length} items`)
    } catch {
      return batch.map(() => ({ ok: false, error: err }))
    }
  }

  const settle = async (batch: Pending<In, Out>[]): Promise<void> => {
    let results: Out[]
    try {
      results = await options.run(batch.map((p) => p.item))
    } catch (err) {
      const decided = await decide(batch, err)
      if (decided !== 'isolate') {
        for (const [i, p] of batch.entries()) {
          const s = decided[i] as Settlement<Out>
          if (s.ok) p.resolve(s.value)
          else p.reject(s.error)
        }
      } else if (batch.length > 1) {
        for (const p of batch) await settle([p])
      } else {
        for (const p of batch) p.reject(err)
      }
      return
    }
    for (const [i, p] of batch.entries()) p.resolve(results[i] as Out)
  }

  const runBatch = async (batch: Pending<In, Out>[]): Promise<void> => {
    running++
    try {
      await settle(batch)
    } finally {
      running--
      pump()
      settleIdle()
    }
  }

  /** Takes the next batch off the queue: by count, and by weight when weights are given. */
  const take = (): Pending<In, Out>[] => {
    if (!options.weight || options.maxBatchWeight === undefined) return queue.splice(0, options.maxBatchSize)
    let total = 0
    let n = 0
    while (n < queue.length && n < options.maxBatchSize) {
      const w = options.weight((queue[n] as Pending<In, Out>).item)
      if (n > 0 && total + w > options.maxBatchWeight) break
      total += w
      n++
    }
    return queue.splice(0, n)
  }

  const pump = (): void => {
    while (running < options.concurrency && queue.length > 0) {
      void runBatch(take())
    }
  }

  return {
    push(item) {
      return new Promise<Out>((resolve, reject) => {
        queue.push({ item, resolve, reject })
        // Defer to the end of this tick so callers woken together share one batch.
        if (!scheduled) {
          scheduled = true
          setImmediate(() => {
            scheduled = false
            pump()
          })
        }
      })
    },
    drain() {
      if (running === 0 && queue.length === 0) return Promise.resolve()
      return new Promise((resolve) => idleWaiters.push(resolve))
    },
  }
}
