import type { Redis } from './redis.js'

/**
 * A fixed-window counter per API key in Redis, counting in the same key and the same way as the
 * HTTP rate limit (`<prefix>:ratelimit:<keyId>`, increment, window starts with the first hit), so
 * a key's sends over SMTP and HTTP share one budget.
 */
const SCRIPT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {current, redis.call('PTTL', KEYS[1])}`

export interface KeyRateLimit {
  /** Counts one use; `retryAfter` (seconds) is set when the key is over its limit. */
  hit(keyId: string): Promise<{ retryAfter?: number }>
}

export function createKeyRateLimit(options: { redis: Redis; prefix: string; max: number; windowMs: number }): KeyRateLimit {
  return {
    async hit(keyId) {
      try {
        const [count, ttl] = (await options.redis.eval(SCRIPT, 1, `${options.prefix}:ratelimit:${keyId}`, options.windowMs)) as [
          number,
          number,
        ]
        return count > options.max ? { retryAfter: Math.max(1, Math.ceil(ttl / 1000)) } : {}
      } catch {
        // As on HTTP: an unreachable Redis skips the limit rather than refusing mail Postgres can take.
        return {}
      }
    },
  }
}
