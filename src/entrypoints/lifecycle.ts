import type { Logger } from '../infra/logger.js'

export type Stop = () => Promise<void>

/**
 * Stops cleanly on SIGTERM/SIGINT: runs `stop` once, exits 0 when it finishes, and exits 1 if it
 * has not finished within `timeoutMs` (a hung connection must not keep a deploy waiting forever).
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
    }, timeoutMs + 2_000)
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
