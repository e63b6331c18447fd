import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Redis } from '../../infra/redis.js'
import { AppError, unavailable } from '../../lib/errors.js'
import type { Dispatcher } from '../../modules/delivery/dispatch.port.js'

export interface RateLimitOptions {
  redis: Redis
  prefix: string
  max: number
  windowMs: number
}

/**
 * Per-key limits counted in Redis, shared by every API process. Registered after the auth hook,
 * so it counts authenticated keys, not addresses. If Redis is unreachable the limit is skipped
 * rather than refusing mail that Postgres can still accept.
 */
export async function registerRateLimit(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  await app.register(rateLimit, {
    max: options.max,
    timeWindow: options.windowMs,
    redis: options.redis,
    nameSpace: `${options.prefix}:ratelimit:`,
    keyGenerator: (request) => request.principal.keyId,
    enableDraftSpec: true,
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new AppError(
        'rate_limited',
        `Rate limit of ${context.max} requests per ${context.after} exceeded for this API key; retry after the Retry-After delay.`,
        {
          retryAfter: Math.ceil(context.ttl / 1000),
        },
      ),
  })
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Sends to this route are refused while the delivery backlog is too deep. */
    admission?: boolean
  }
}

/**
 * Admission control: when deliveries already waiting pass the configured depth, new sends are
 * turned away with 503 + Retry-After rather than starving the workers of CPU. It runs before
 * authentication so that a refusal costs no database or Redis work (the depth is cached).
 *
 * Past the depth, the share refused grows with the backlog (all of it at twice the depth), and
 * Retry-After is spread over 1-3 s: clients refused together do not come back together, so intake
 * follows delivery smoothly instead of in on/off waves that leave the workers idle.
 */
export function registerAdmission(
  app: FastifyInstance,
  dispatcher: Pick<Dispatcher, 'backlog'>,
  maxBacklog: number,
  random: () => number = Math.random,
): void {
  app.addHook('onRequest', async (request) => {
    if (!request.routeOptions.config.admission) return
    const backlog = await dispatcher.backlog()
    if (backlog > maxBacklog && random() < refusedShare(backlog, maxBacklog)) {
      const retryAfter = 1 + Math.floor(random() * 3)
      throw unavailable(`Hikyaku is working through a backlog of ${backlog} deliveries; retry shortly.`, retryAfter)
    }
  })
}

/** The share of sends refused at a given backlog: 0 up to the depth, rising to 1 at twice it. */
export const refusedShare = (backlog: number, maxBacklog: number): number => Math.min(1, Math.max(0, (backlog - maxBacklog) / maxBacklog))
