/**
 * Runs `pass` again and again, one at a time, in the background: after each, `next` says how
 * long to wait before the next one, and after a failure `failed` does (and logs it). `stop()`
 * schedules nothing more and waits for the pass in progress, which may watch `stopping` to end
 * early. The sweeper, the statistics rollup and retention run this way.
 */
export function startPeriodic<T>(options: {
  pass: (stopping: () => boolean) => Promise<T>
  next: (result: T) => number
  failed: (err: unknown) => number
  firstMs: number
}): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopped = false
  const stopping = () => stopped
  const schedule = (ms: number) => {
    if (!stopped) timer = setTimeout(tick, ms)
  }
  const tick = () => {
    running = options
      .pass(stopping)
      .then(
        (result) => schedule(options.next(result)),
        (err) => schedule(options.failed(err)),
      )
      .finally(() => {
        running = undefined
      })
  }
  schedule(options.firstMs)
  return {
    async stop(): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}
