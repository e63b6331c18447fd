import { type Logger, pino } from 'pino'

export type { Logger }

/** One pino logger per process; components take children with their own bindings. */
export function createLogger(level: string, name = 'hikyaku'): Logger {
  return pino({
    name,
    level,
    // Secrets never reach the log, whatever object a caller passes.
    redact: { paths: ['*.authorization', '*.password', '*.secret', 'req.headers.authorization'], censor: '[redacted]' },
  })
}
