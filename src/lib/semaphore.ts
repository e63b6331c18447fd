/**
 * A weighted semaphore: `acquire(n)` waits until `n` more units fit under the capacity, in
 * arrival order (a large request is not starved by a stream of small ones). One request larger
 * than the whole capacity is admitted when nothing else is held, so an item at the size limit
 * can always go, alone. Used for bytes of messages in flight and for connection slots.
 */
export interface Semaphore {
  /** Resolves true once `n` units are held, or false if `timeoutMs` passes or `signal` aborts first. */
  acquire(n: number, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean>
  /** Takes `n` units at once if they fit and nobody waits; false otherwise. */
  tryAcquire(n: number): boolean
  release(n: number): void
  readonly used: number
  readonly waiting: number
}

interface Waiter {
  n: number
  grant: () => void
}

export function createSemaphore(capacity: number): Semaphore {
  let used = 0
  const queue: Waiter[] = []

  const fits = (n: number) => used + n <= capacity || used === 0

  const pump = () => {
    while (queue.length > 0 && fits((queue[0] as Waiter).n)) {
      const next = queue.shift() as Waiter
      used += next.n
      next.grant()
    }
  }

  return {
    get used() {
      return used
    },
    get waiting() {
      return queue.length
    },
    tryAcquire(n) {
      if (queue.length > 0 || !fits(n)) return false
      used += n
      return true
    },
    acquire(n, options = {}) {
      if (queue.length === 0 && fits(n)) {
        used += n
        return Promise.resolve(true)
      }
      if (options.signal?.aborted || options.timeoutMs === 0) return Promise.resolve(false)
      return new Promise<boolean>((resolve) => {
        let timer: NodeJS.Timeout | undefined
        const waiter: Waiter = {
          n,
          grant: () => {
            cleanup()
            resolve(true)
          },
        }
        const giveUp = () => {
          const i = queue.indexOf(waiter)
          if (i < 0) return
          queue.splice(i, 1)
          cleanup()
          resolve(false)
          // A large waiter leaving the head may let smaller ones behind it in.
          pump()
        }
        const cleanup = () => {
          clearTimeout(timer)
          options.signal?.removeEventListener('abort', giveUp)
        }
        if (options.timeoutMs !== undefined) timer = setTimeout(giveUp, options.timeoutMs)
        options.signal?.addEventListener('abort', giveUp, { once: true })
        queue.push(waiter)
      })
    },
    release(n) {
      used = Math.max(0, used - n)
      pump()
    },
  }
}
