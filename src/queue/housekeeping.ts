import type { Logger } from '../infra/logger.js'
import { startPeriodic } from '../lib/periodic.js'
import type { Sweeper } from '../modules/delivery/sweeper.js'

/**
 * Runs the sweeper every interval (±10%, so several workers do not contend in lockstep). A sweep
 * never overlaps the previous one in this process; the advisory lock covers the others.
 */
export function startHousekeeping(sweeper: Sweeper, intervalMs: number, logger: Logger) {
  const jittered = () => intervalMs * (0.9 + Math.random() * 0.2)
  return startPeriodic({
    pass: () => sweeper.sweep(),
    next: jittered,
    failed: (err) => {
      logger.warn({ err: String(err) }, 'sweep failed; will try again')
      return jittered()
    },
    firstMs: jittered(),
  })
}
