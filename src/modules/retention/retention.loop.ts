import type { Logger } from '../../infra/logger.js'
import { startPeriodic } from '../../lib/periodic.js'
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
  return startPeriodic({
    pass: (stopping) => retention.pass(Date.now(), stopping),
    next: ({ more }) => (more ? MORE_MS : INTERVAL_MS),
    failed: (err) => {
      logger.warn({ err: String(err) }, 'retention pass failed; will try again')
      return INTERVAL_MS
    },
    // The first pass waits a little: a worker starting up has its claims to make first.
    firstMs: MORE_MS * 5,
  })
}
