import type { Config } from './config.js'
import type { Pool } from './infra/db.js'
import { createDestinationLimiter } from './infra/destination-limiter.js'
import { createDns } from './infra/dns.js'
import type { Logger } from './infra/logger.js'
import type { Redis } from './infra/redis.js'
import { createDeliveryRepository } from './modules/delivery/delivery.repository.js'
import { createDeliveryService } from './modules/delivery/delivery.service.js'
import type { Dispatcher } from './modules/delivery/dispatch.port.js'
import type { Signer } from './modules/delivery/message.prepare.js'
import type { DeliveryMetrics } from './modules/delivery/metrics.port.js'
import { createMxPlanner } from './modules/delivery/mx.plan.js'
import { MxTransport } from './modules/delivery/mx.transport.js'
import { createOutcomeRepository } from './modules/delivery/outcome.repository.js'
import { describeTarget, parseRelayUrl } from './modules/delivery/relay-target.js'
import type { Shaping } from './modules/delivery/shaping.js'
import { SmtpPool } from './modules/delivery/smtp-pool.js'
import { createSweeper } from './modules/delivery/sweeper.js'
import { createSweeperRepository } from './modules/delivery/sweeper.repository.js'
import { streamsOf } from './modules/streams/streams.js'
import { unsubscribeHeaders } from './modules/unsubscribe/unsubscribe.token.js'

/** The parts only delivering processes (worker, all) build: transports, delivery service, sweeper. */
export function createDeliveryParts(
  config: Config,
  deps: { pool: Pool; redis: Redis; dispatcher: Dispatcher; logger: Logger; shaping: Shaping; signer?: Signer; metrics?: DeliveryMetrics },
) {
  const { pool, dispatcher, logger } = deps
  const target = parseRelayUrl(config.smtpRelayUrl)
  // Each stream's lane has relay connections of its own: bulk mail waiting for a connection never
  // stands in front of a password reset.
  const relays = new Map(
    config.streams.map((s) => [
      s.name,
      new SmtpPool({
        target,
        size: s.pool,
        heloName: config.heloName,
        timeoutMs: config.smtpTimeoutMs,
        logger: logger.child({ component: 'smtp-pool', stream: s.name }),
      }),
    ]),
  )
  const transactional = relays.get('transactional') as SmtpPool
  const relay = (stream: string | undefined) => (stream && relays.get(stream)) || transactional
  const mx = new MxTransport({
    planner: createMxPlanner({
      dns: createDns({ servers: config.dnsServers, timeoutMs: config.dnsTimeoutMs }),
      allowPrivate: config.mxAllowPrivate,
    }),
    shaping: deps.shaping,
    limiter: createDestinationLimiter(deps.redis, config.bullmqPrefix),
    port: config.mxPort,
    heloName: config.heloName,
    timeoutMs: config.smtpTimeoutMs,
    localAddress: config.mxSourceAddress,
    logger: logger.child({ component: 'mx' }),
  })
  const repository = createDeliveryRepository(pool, { leaseMs: config.deliveryLeaseMs })
  const service = createDeliveryService({
    repository,
    outcomes: createOutcomeRepository(pool),
    relay,
    mx,
    signer: deps.signer,
    dispatcher,
    logger: logger.child({ component: 'delivery' }),
    retry: { scheduleMs: config.retryScheduleMs, jitter: 0.1 },
    lease: { leaseMs: config.deliveryLeaseMs, renewIntervalMs: config.leaseRenewIntervalMs },
    smtp: { transactionMs: config.smtpTransactionTimeoutMs, dataTimeoutMs: config.smtpDataTimeoutMs },
    memoryBudget: config.workerMemoryBudget,
    batchConcurrency: Math.max(1, Math.floor(config.dbPoolSize / 4)),
    unsubscribe: {
      isBroadcast: streamsOf(config.streams).isBroadcast,
      headers: (recipientId, mailDomain) => unsubscribeHeaders(config.secret, recipientId, config.publicUrl, mailDomain),
    },
    metrics: deps.metrics,
  })
  const sweeper = createSweeper({
    repository: createSweeperRepository(pool),
    dispatcher,
    logger: logger.child({ component: 'sweeper' }),
    graceMs: Math.max(1_000, config.sweepIntervalMs),
    logRetentionMs: config.logRetentionMs,
    metrics: deps.metrics,
  })
  return {
    service,
    sweeper,
    relay: describeTarget(target),
    async close() {
      await service.drain()
      await Promise.all([...relays.values()].map((r) => r.close()))
      await mx.close()
    },
  }
}

export type DeliveryParts = ReturnType<typeof createDeliveryParts>
