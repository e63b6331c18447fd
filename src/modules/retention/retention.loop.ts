import type { Logger } from '../../infra/logger.js'
import type { RetentionService } from './retention.service.js'

/** Passes are this far apart; one that stopped at its batch budget is followed after MORE_MS. */
const INTERVAL_MS = 60_000
const MORE_MS = 2_000

/**
 * Runs retention in the worker: a bounded pass a minute, and another soon after while a pass
 * used its whole budget (a backlog after first enabling it, or after downtime), with a pause
 * between them so that purging never takes the database from sending for long.
 */
export function startRetention(retention: Pick<RetentionService, 'pass'>, logger: Logger) {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopped = false
  const schedule = (ms: number) => {
    if (!stopped) timer = setTimeout(tick, ms)
  }
  const tick = () => {
    running = retention
      .pass(Date.now(), () => stopped)
      .then(
        ({ more }) => schedule(more ? MORE_MS : INTERVAL_MS),
        (err) => {
          logger.warn({ err: String(err) }, 'retention pass failed; will try again')
          schedule(INTERVAL_MS)
        },
      )
      .finally(() => {
        running = undefined
      })
  }
  // The first pass waits a little: a worker starting up has its claims to make first.
  schedule(MORE_MS * 5)
  return {
    async stop(): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}
