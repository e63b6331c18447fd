import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Redis } from '../../infra/redis.js'
import { AppError } from '../../lib/errors.js'

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
        // context.after is the time left until the window resets, not the window itself.
        `Rate limit of ${context.max} requests per ${options.windowMs / 1000} s exceeded for this API key; retry after ${context.after}.`,
        {
          retryAfter: Math.ceil(context.ttl / 1000),
        },
      ),
  })
}
