import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from './logger.js'

export type { Redis }

/**
 * Producers (API, SMTP ingress) fail fast: a request must not hang while Redis is away, because
 * Postgres already holds the truth and the sweeper enqueues later.
 */
export function createProducerRedis(url: string, logger: Logger, options: { autoPipeline?: boolean } = {}): Redis {
  return withErrorLog(
    new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      commandTimeout: 2_000,
      // Commands issued in the same tick share one write: one syscall for many concurrent requests.
      enableAutoPipelining: options.autoPipeline === true,
    }),
    logger,
    'producer',
  )
}

/** Workers wait out outages: BullMQ needs `maxRetriesPerRequest: null` on blocking connections. */
export function workerRedisOptions(): RedisOptions {
  return { maxRetriesPerRequest: null, enableReadyCheck: true, retryStrategy: (times) => Math.min(times * 200, 2_000) }
}

export function createWorkerRedis(url: string, logger: Logger): Redis {
  return withErrorLog(new Redis(url, workerRedisOptions()), logger, 'worker')
}

function withErrorLog(redis: Redis, logger: Logger, role: string): Redis {
  let lastLogged = 0
  redis.on('error', (err) => {
    // Reconnect loops emit an error per try; one line every few seconds is enough.
    if (Date.now() - lastLogged > 5_000) {
      lastLogged = Date.now()
      logger.warn({ err: err.message, role }, 'redis connection error')
    }
  })
  return redis
}
