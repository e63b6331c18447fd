import type { Logger } from '../infra/logger.js'

export type Stop = () => Promise<void>

/**
 * Time after the graceful timeout for cutting transactions, giving claims back and closing pools:
 * room for a connect and a statement on a stalled database (5 s + DB_STATEMENT_TIMEOUT + 2 s).
 */
const STUCK_AFTER_MS = 30_000

/**
 * Stops cleanly on SIGTERM/SIGINT: runs `stop` once and exits 0 when it finishes. `stop` bounds
 * itself by `timeoutMs` (deliveries still going are then cut and their claims given back); if it
 * has still not finished a while after that, something is stuck and the process exits 1 rather
 * than keep a deploy waiting forever.
 */
export function stopOnSignals(logger: Logger, timeoutMs: number, stop: Stop): void {
  let stopping = false
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out; exiting')
      process.exit(1)
    }, timeoutMs + STUCK_AFTER_MS)
    timer.unref()
    stop().then(
      () => {
        logger.info('stopped')
        process.exit(0)
      },
      (err) => {
        logger.error({ err }, 'error while stopping')
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', handler)
  process.once('SIGINT', handler)
}
