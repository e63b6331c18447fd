import type { Config } from './config.js'
import { createPool, createPrisma, type Pool, type PrismaClient } from './infra/db.js'
import { createLogger, type Logger } from './infra/logger.js'
import { createProducerRedis, type Redis } from './infra/redis.js'
import { createAccountService } from './modules/accounts/account.service.js'
import { createApiKeyRepository } from './modules/api-keys/api-key.repository.js'
import { createApiKeyService } from './modules/api-keys/api-key.service.js'
import { createDeliveryService, type DeliveryService } from './modules/delivery/delivery.service.js'
import { describeTarget, parseRelayUrl } from './modules/delivery/relay-target.js'
import { SmtpPool } from './modules/delivery/smtp-pool.js'
import { createSweeper, type Sweeper } from './modules/delivery/sweeper.js'
import { createEmailService } from './modules/emails/email.service.js'
import { createDeliveryDispatcher } from './queue/delivery.queue.js'

/**
 * The composition root: builds every long-lived object once, in dependency order, and closes
 * them in reverse. Entry points and tests take what they need from it.
 */
export function createContainer(config: Config, options: { logger?: Logger } = {}) {
  const logger = options.logger ?? createLogger(config.logLevel)
  const pool = createPool(config.databaseUrl, config.dbPoolSize)
  const prisma = createPrisma(pool)
  const redis = createProducerRedis(config.redisUrl, logger)
  // Per-request commands (rate limits) on their own auto-pipelined connection; BullMQ keeps its own.
  const requestRedis = createProducerRedis(config.redisUrl, logger, { autoPipeline: true })
  const dispatcher = createDeliveryDispatcher({ redis, prefix: config.bullmqPrefix, logger })

  const apiKeys = createApiKeyService({ repository: createApiKeyRepository(prisma, pool), logger })
  const accounts = createAccountService({ prisma, apiKeys })
  const emails = createEmailService({
    pool,
    prisma,
    dispatcher,
    logger,
    limits: { maxRecipients: config.maxRecipients, maxMessageBytes: config.maxMessageBytes, maxDeliveryAgeMs: config.maxDeliveryAgeMs },
    // A quarter of the pool each for accept, claim and record batches leaves a quarter for reads.
    acceptConcurrency: Math.max(1, Math.floor(config.dbPoolSize / 4)),
  })

  let delivery: { service: DeliveryService; sweeper: Sweeper; transport: SmtpPool; relay: string } | undefined

  /** Delivery parts exist only in processes that deliver (worker, all). */
  const deliveryParts = () => {
    if (!delivery) {
      const target = parseRelayUrl(config.smtpRelayUrl)
      const transport = new SmtpPool({
        target,
        size: config.smtpPoolSize,
        heloName: config.heloName,
        timeoutMs: config.smtpTimeoutMs,
        logger: logger.child({ component: 'smtp-pool' }),
      })
      const service = createDeliveryService({
        pool,
        transport,
        dispatcher,
        logger: logger.child({ component: 'delivery' }),
        retry: { scheduleMs: config.retryScheduleMs, jitter: 0.1 },
        leaseMs: config.deliveryLeaseMs,
        batchConcurrency: Math.max(1, Math.floor(config.dbPoolSize / 4)),
      })
      const sweeper = createSweeper({
        pool,
        dispatcher,
        logger: logger.child({ component: 'sweeper' }),
        graceMs: Math.max(1_000, config.sweepIntervalMs),
      })
      delivery = { service, sweeper, transport, relay: describeTarget(target) }
    }
    return delivery
  }

  async function checkReady(): Promise<Record<string, 'ok' | 'down'>> {
    const [postgres, redisState] = await Promise.all([
      pool.query('SELECT 1').then(
        () => 'ok' as const,
        () => 'down' as const,
      ),
      redis.ping().then(
        () => 'ok' as const,
        () => 'down' as const,
      ),
    ])
    return { postgres, redis: redisState }
  }

  return {
    config,
    logger,
    pool,
    prisma: prisma as PrismaClient,
    redis: redis as Redis,
    requestRedis: requestRedis as Redis,
    dispatcher,
    services: { apiKeys, accounts, emails },
    deliveryParts,
    checkReady,
    /** Closes in reverse order of creation; safe to call once everything above has stopped. */
    async close(): Promise<void> {
      await emails.drain()
      if (delivery) {
        await delivery.service.drain()
        await delivery.transport.close()
      }
      await dispatcher.close()
      redis.disconnect()
      requestRedis.disconnect()
      await prisma.$disconnect()
      await (pool as Pool).end()
    },
  }
}

export type Container = ReturnType<typeof createContainer>
