import { createHash } from 'node:crypto'
import { canonicalJson } from '../../lib/canonical-json.js'

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256

/** SHA-256 over method, path and canonical JSON: the same request always gives the same print. */
export const requestFingerprint = (method: string, path: string, body: unknown): string =>
  createHash('sha256')
    .update(`${method.toUpperCase()} ${path}\n${canonicalJson(body)}`)
    .digest('hex')
