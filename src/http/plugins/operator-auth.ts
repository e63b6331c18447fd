import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { ConfigError } from '../../config.js'
import { AppError } from '../../lib/errors.js'
import { parseToken } from '../../modules/api-keys/api-key.token.js'
import { createAuthThrottle } from '../../smtp/auth-throttle.js'

/** Wrong tokens from one address before it is refused for OPERATOR_BLOCK_MS. */
export const OPERATOR_MAX_FAILURES = 10
export const OPERATOR_BLOCK_MS = 5 * 60_000

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

/**
 * Authenticates every request of the operator scope with OPERATOR_TOKEN, before its body is read.
 * API keys are never looked at here, and this scope is outside the one where they are (app.ts),
 * so neither credential opens the other's routes. Without a token the operator API is off: every
 * route answers 404.
 */
export function registerOperatorAuth(app: FastifyInstance, options: { token: string | undefined }): void {
  const { token } = options
  // An API key as the operator token would open both APIs with one secret.
  if (token !== undefined && parseToken(token)) {
    throw new ConfigError(['OPERATOR_TOKEN has the form of an API key (hk_…): give the operator API a secret of its own'])
  }
  // Both sides hashed: equal lengths for timingSafeEqual, and the time taken says nothing of the token's length or prefix.
  const expected = token === undefined ? undefined : digest(token)
  // Per address, in process memory: a brake on wrong tokens only. The right token always passes,
  // so that nobody can lock the operator out by guessing from the same address (a proxy's, say).
  const throttle = createAuthThrottle({ maxFailures: OPERATOR_MAX_FAILURES, blockMs: OPERATOR_BLOCK_MS })

  app.addHook('onRequest', async (request) => {
    if (!expected) throw new AppError('not_found', 'The operator API is off on this server: OPERATOR_TOKEN is not set')
    const ip = request.ip
    const header = request.headers.authorization
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (match && timingSafeEqual(digest(match[1] as string), expected)) return
    if (throttle.isBlocked(ip)) {
      throw new AppError('rate_limited', 'Too many wrong operator tokens from your address; try again later', {
        retryAfter: Math.ceil(OPERATOR_BLOCK_MS / 1000),
      })
    }
    if (header === undefined) throw new AppError('unauthorized', 'Missing operator token: send "Authorization: Bearer <OPERATOR_TOKEN>"')
    throttle.fail(ip)
    request.log.warn({ ip, blocked: throttle.isBlocked(ip) }, 'operator API: wrong token')
    throw new AppError(
      'unauthorized',
      match
        ? 'Invalid operator token (the operator API takes OPERATOR_TOKEN, never an API key)'
        : 'Malformed Authorization header: expected "Bearer <OPERATOR_TOKEN>"',
    )
  })
}
