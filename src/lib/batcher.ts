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
}

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

  const runBatch = async (batch: Pending<In, Out>[]): Promise<void> => {
    running++
    try {
      const results = await options.run(batch.map((p) => p.item))
      for (const [i, p] of batch.entries()) p.resolve(results[i] as Out)
    } catch (err) {
      for (const p of batch) p.reject(err)
    } finally {
      running--
      pump()
      settleIdle()
    }
  }

  const pump = (): void => {
    while (running < options.concurrency && queue.length > 0) {
      void runBatch(queue.splice(0, options.maxBatchSize))
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
