import type { Logger } from '../infra/logger.js'
import type { Sweeper } from '../modules/delivery/sweeper.js'

/**
 * Runs the sweeper every interval (±10%, so several workers do not contend in lockstep). A sweep
 * never overlaps the previous one in this process; the advisory lock covers the others.
 */
export function startHousekeeping(sweeper: Sweeper, intervalMs: number, logger: Logger) {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopped = false

  const schedule = () => {
    if (stopped) return
    timer = setTimeout(tick, intervalMs * (0.9 + Math.random() * 0.2))
  }
  const tick = () => {
    running = sweeper
      .sweep()
      .catch((err) => logger.warn({ err: String(err) }, 'sweep failed; will try again'))
      .finally(() => {
        running = undefined
        schedule()
      })
  }
  schedule()

  return {
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}
