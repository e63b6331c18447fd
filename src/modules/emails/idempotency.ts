import { createHash } from 'node:crypto'
import { canonicalJson } from '../../lib/canonical-json.js'

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256

/** SHA-256 over method, path and canonical JSON: the same request always gives the same print. */
export const requestFingerprint = (method: string, path: string, body: unknown): string =>
  createHash('sha256')
    .update(`${method.toUpperCase()} ${path}\n${canonicalJson(body)}`)
    .digest('hex')

/**
 * The advisory-lock expression guarding one (account, key) while its request is in flight; a
 * second request that cannot take it is answered 409 instead of waiting.
 */
export const IDEMPOTENCY_LOCK_SQL = "pg_try_advisory_xact_lock(hashtextextended($1::text || ':' || $2::text, 0))"
