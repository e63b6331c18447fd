import type { Logger } from '../../infra/logger.js'
import { startPeriodic } from '../../lib/periodic.js'
import type { StatsService } from './stats.service.js'

const IDLE_FACTOR = 5

/**
 * Keeps the statistics rollup up with the events: a pass every `intervalMs`, and the next one at
 * once while events are waiting (a backlog after downtime is worked through, a batch at a time).
 * Any number of processes may run it: an account's cursor is held by one of them at a time.
 */
export function startStatsRollup(stats: Pick<StatsService, 'rollUp'>, intervalMs: number, logger: Logger) {
  // Idle passes back off (up to IDLE_FACTOR × the interval): many workers looking for nothing
  // every second would probe every account's cursor for nothing.
  let idle = 0
  return startPeriodic({
    pass: (stopping) => stats.rollUp(stopping),
    next: ({ events, more }) => {
      idle = events > 0 ? 0 : Math.min(IDLE_FACTOR, idle + 1)
      return more ? 0 : intervalMs * Math.max(1, idle)
    },
    failed: (err) => {
      logger.warn({ err: String(err) }, 'statistics rollup failed; will try again')
      return intervalMs * 5
    },
    firstMs: 0,
  })
}
