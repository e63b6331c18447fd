import type { Logger } from '../../infra/logger.js'
import type { StatsService } from './stats.service.js'

const IDLE_FACTOR = 5

/**
 * Keeps the statistics rollup up with the events: a pass every `intervalMs`, and the next one at
 * once while events are waiting (a backlog after downtime is worked through, a batch at a time).
 * Any number of processes may run it: an account's cursor is held by one of them at a time.
 */
export function startStatsRollup(stats: Pick<StatsService, 'rollUp'>, intervalMs: number, logger: Logger) {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopped = false
  // Idle passes back off (up to IDLE_FACTOR × the interval): many workers looking for nothing
  // every second would probe every account's cursor for nothing.
  let idle = 0

  const schedule = (ms: number) => {
    if (!stopped) timer = setTimeout(tick, ms)
  }
  const tick = () => {
    running = stats
      .rollUp(() => stopped)
      .then(
        ({ events, more }) => {
          idle = events > 0 ? 0 : Math.min(IDLE_FACTOR, idle + 1)
          schedule(more ? 0 : intervalMs * Math.max(1, idle))
        },
        (err) => {
          logger.warn({ err: String(err) }, 'statistics rollup failed; will try again')
          schedule(intervalMs * 5)
        },
      )
      .finally(() => {
        running = undefined
      })
  }
  schedule(0)

  return {
    async stop(): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}
