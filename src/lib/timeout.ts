/** An error for a call that did not answer in time; the call itself may still complete later. */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not complete within ${ms} ms`)
    this.name = 'TimeoutError'
  }
}

/**
 * Rejects with a TimeoutError if `promise` has not settled within `ms`. The work behind it is not
 * cancelled: use it where giving up waiting is safe (an idempotent queue add, a cached count).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
