import { type Config, ConfigError } from './config.js'
import { createDeliveryParts, type DeliveryParts } from './container.delivery.js'
import { createPool, createPrisma, type Pool, type PrismaClient } from './infra/db.js'
import { createDestinationLimiter } from './infra/destination-limiter.js'
import { createDns } from './infra/dns.js'
import { createLogger, type Logger } from './infra/logger.js'
import { createMetrics } from './infra/metrics.js'
import { createQuotaCounter } from './infra/quota-counter.js'
import { createProducerRedis, type Redis } from './infra/redis.js'
import { checkWebhookUrl } from './infra/webhook-http.js'
import { createSecretBox } from './lib/secret-box.js'
import { createAccountRepository } from './modules/accounts/account.repository.js'
import { createAccountService } from './modules/accounts/account.service.js'
import { createApiKeyRepository } from './modules/api-keys/api-key.repository.js'
import { createApiKeyService } from './modules/api-keys/api-key.service.js'
import { createCampaignRepository } from './modules/campaigns/campaign.repository.js'
import { createCampaignService } from './modules/campaigns/campaign.service.js'
import { createSessionRepository } from './modules/dashboard/session.repository.js'
import { createSessionService } from './modules/dashboard/session.service.js'
import { createDestinationsView } from './modules/delivery/destinations.view.js'
import { checkShapingFile, createShaping, type ShapingFile } from './modules/delivery/shaping.js'
import { DKIM_BOX_PURPOSE } from './modules/domains/dkim.keys.js'
import { signMessage } from './modules/domains/dkim.sign.js'
import { createDomainRepository } from './modules/domains/domain.repository.js'
import { createDomainService } from './modules/domains/domain.service.js'
import type { SigningKey } from './modules/domains/domain.types.js'
import { createBatchRepository } from './modules/emails/batch.repository.js'
import { createEmailOverviewRepository } from './modules/emails/email.overview.js'
import { createEmailRepository } from './modules/emails/email.repository.js'
import { createEmailService } from './modules/emails/email.service.js'
import { createEmailSourceRepository } from './modules/emails/email.source.js'
import { createEventRepository } from './modules/events/event.repository.js'
import { createEventService } from './modules/events/event.service.js'
import { createFeedbackRepository } from './modules/feedback/feedback.repository.js'
import { createFeedbackService } from './modules/feedback/feedback.service.js'
import { returnPath } from './modules/feedback/verp.js'
import { createRetentionRepository } from './modules/retention/retention.repository.js'
import { createRetentionService } from './modules/retention/retention.service.js'
import { createStatsRepository } from './modules/stats/stats.repository.js'
import { createStatsService } from './modules/stats/stats.service.js'
import { createStreamRepository } from './modules/streams/stream.repository.js'
import { createStreamService } from './modules/streams/stream.service.js'
import { streamsOf } from './modules/streams/streams.js'
import { createSuppressionRepository } from './modules/suppressions/suppression.repository.js'
import { createSuppressionService } from './modules/suppressions/suppression.service.js'
import { createTemplateRepository } from './modules/templates/template.repository.js'
import { createTemplateService } from './modules/templates/template.service.js'
import { createUnsubscribeRepository } from './modules/unsubscribe/unsubscribe.repository.js'
import { createUnsubscribeService } from './modules/unsubscribe/unsubscribe.service.js'
import { createEndpointRepository } from './modules/webhooks/endpoint.repository.js'
import { createWebhookRepository } from './modules/webhooks/webhook.repository.js'
import { createWebhookService } from './modules/webhooks/webhook.service.js'
import { createDeliveryDispatcher } from './queue/delivery.queue.js'

/**
 * The composition root: builds every long-lived object once, in dependency order, and closes
 * them in reverse. Entry points and tests take what they need from it.
 */
export function createContainer(config: Config, options: { logger?: Logger } = {}) {
  // Checked before anything connects, so a bad file leaves nothing open.
  const shapingProblems = config.shaping === undefined ? [] : checkShapingFile(config.shaping)
  if (shapingProblems.length > 0) throw new ConfigError(shapingProblems.map((p) => `SHAPING_CONFIG: ${p}`))
  const shaping = createShaping(config.deliveryMode, config.shaping as ShapingFile | undefined)
  const logger = options.logger ?? createLogger(config.logLevel)
  // Counts from the start in every process; what a process shows is chosen when its metrics listener starts.
  const metrics = createMetrics({ streams: config.streams.map((s) => s.name), logger: logger.child({ component: 'metrics' }) })
  const pool = createPool(config.databaseUrl, config.dbPoolSize, { statementTimeoutMs: config.dbStatementTimeoutMs })
  const prisma = createPrisma(pool)
  const redis = createProducerRedis(config.redisUrl, logger)
  // Per-request commands (rate limits) on their own auto-pipelined connection; BullMQ keeps its own.
  const requestRedis = createProducerRedis(config.redisUrl, logger, { autoPipeline: true })
  const streams = streamsOf(config.streams)
  const dispatcher = createDeliveryDispatcher({ redis, prefix: config.bullmqPrefix, logger, streams: streams.has })

  // Services get repositories, never the pool or Prisma themselves.
  const db = { pool, prisma }
  const apiKeys = createApiKeyService({ repository: createApiKeyRepository(db), logger })
  const accounts = createAccountService({ repository: createAccountRepository(db), apiKeys, streams })
  const domains = createDomainService({
    repository: createDomainRepository(db),
    dns: createDns({ servers: config.dnsServers, timeoutMs: config.dnsTimeoutMs }),
    box: createSecretBox(config.secret, DKIM_BOX_PURPOSE),
    config,
    logger: logger.child({ component: 'domains' }),
  })
  const templates = createTemplateService({ repository: createTemplateRepository(db) })
  const campaigns = createCampaignService({
    repository: createCampaignRepository(db),
    dispatcher,
    logger: logger.child({ component: 'campaigns' }),
  })
  const emails = createEmailService({
    templates: { load: (accountId, ref, version) => templates.load(accountId, ref, version) },
    campaigns,
    streamGate: { checkOpen: (accountId, stream) => streamService.checkOpen(accountId, stream) },
    batches: createBatchRepository(db),
    quotaCounter: createQuotaCounter({ redis: requestRedis, prefix: config.bullmqPrefix }),
    routeFor: shaping.routeFor,
    repository: createEmailRepository(db),
    dispatcher,
    logger,
    limits: {
      maxRecipients: config.maxRecipients,
      maxMessageBytes: config.maxMessageBytes,
      maxDeliveryAgeMs: config.maxDeliveryAgeMs,
      streams,
    },
    // A quarter of the pool each for accept, claim and record batches, an eighth for DATA marks and
    // one connection for lease renewals leave the rest for reads, the sweeper and DKIM lookups.
    acceptConcurrency: Math.max(1, Math.floor(config.dbPoolSize / 4)),
    domains,
    requireVerifiedDomain: config.requireVerifiedDomain,
  })

  // The API reads the destinations' shared state (pauses, holds) the workers write.
  const destinations = createDestinationsView({ shaping, limiter: createDestinationLimiter(requestRedis, config.bullmqPrefix) })
  const events = createEventService({ repository: createEventRepository(db) })
  const suppressions = createSuppressionService({ repository: createSuppressionRepository(db) })
  const stats = createStatsService({ repository: createStatsRepository(db), logger: logger.child({ component: 'stats' }) })
  const sessions = createSessionService({
    repository: createSessionRepository(db),
    apiKeys,
    secret: config.secret,
    ttlMs: config.dashboardSessionTtlMs,
    idleMs: config.dashboardIdleTimeoutMs,
  })
  const emailSources = createEmailSourceRepository(db)
  const emailOverview = createEmailOverviewRepository(db)
  const retention = createRetentionService({
    repository: createRetentionRepository(db),
    policy: { bodiesMs: config.retentionBodiesMs, metadataMs: config.retentionMetadataMs, batch: 500, maxBatches: 20 },
    logger: logger.child({ component: 'retention' }),
  })
  const unsubscribe = createUnsubscribeService({
    repository: createUnsubscribeRepository(db),
    secret: config.secret,
    logger: logger.child({ component: 'unsubscribe' }),
  })
  const streamService = createStreamService({
    repository: createStreamRepository(db),
    streams,
    guard: config.complaintGuard,
    logger: logger.child({ component: 'streams' }),
  })
  const feedback = createFeedbackService({
    onComplaints: streamService.complaintsRecorded,
    repository: createFeedbackRepository(db),
    secret: config.secret,
    logger: logger.child({ component: 'feedback' }),
    onReport: metrics.inbound.report,
    // One report transaction at a time: reports arriving meanwhile share the next one. Measured
    // with ten sending connections, two at a time made smaller batches that waited on each
    // other's locks (the same address's suppression), and were slower.
    concurrency: 1,
  })

  // Webhook signing secrets are sealed like DKIM keys, under their own purpose.
  const webhookBox = createSecretBox(config.secret, 'webhook-secret')
  const webhookParts = { endpoints: createEndpointRepository(db), webhooks: createWebhookRepository(db), box: webhookBox }
  const webhooks = createWebhookService({
    ...webhookParts,
    streams: streams.names,
    checkUrl: (url) => {
      const checked = checkWebhookUrl(url, config.webhookAllowPrivate)
      return checked.ok ? { ok: true } : checked
    },
  })

  let delivery: DeliveryParts | undefined

  /** Delivery parts exist only in processes that deliver (worker, all). */
  // Mail from a sending domain is DKIM-signed with its keys (Feedback-ID joins the signed headers).
  const signer = {
    identity: domains.signingIdentity,
    sign: (raw: Buffer, keys: SigningKey[]) => signMessage(raw, keys, { extraHeaders: ['Feedback-ID'] }),
    returnPath: (deliveryId: string, domain: string) => returnPath(config.secret, deliveryId, domain),
  }
  const deliveryParts = () => {
    delivery ??= createDeliveryParts(config, { pool, redis: requestRedis, dispatcher, logger, shaping, signer, metrics: metrics.delivery })
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
    metrics,
    pool,
    prisma: prisma as PrismaClient,
    redis: redis as Redis,
    requestRedis: requestRedis as Redis,
    dispatcher,
    services: {
      apiKeys,
      accounts,
      campaigns,
      emails,
      domains,
      destinations,
      events,
      feedback,
      stats,
      sessions,
      emailSources,
      emailOverview,
      retention,
      suppressions,
      templates,
      streams: streamService,
      unsubscribe,
      webhooks,
    },
    webhookParts,
    deliveryParts,
    checkReady,
    /** Closes in reverse order of creation; safe to call once everything above has stopped. */
    async close(): Promise<void> {
      await emails.drain()
      await delivery?.close()
      await dispatcher.close()
      redis.disconnect()
      requestRedis.disconnect()
      await prisma.$disconnect()
      await (pool as Pool).end()
    },
  }
}

export type Container = ReturnType<typeof createContainer>
