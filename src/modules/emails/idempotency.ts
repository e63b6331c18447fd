import { createHash } from 'node:crypto'
import { canonicalJson } from '../../lib/canonical-json.js'
import { AppError } from '../../lib/errors.js'

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256

/** SHA-256 over method, path and canonical JSON: the same request always gives the same print. */
export const requestFingerprint = (method: string, path: string, body: unknown): string =>
  createHash('sha256')
    .update(`${method.toUpperCase()} ${path}\n${canonicalJson(body)}`)
    .digest('hex')

/** The answers to a key in use: by another body (422), or by a request still in flight (409). */
export const mismatchError = (): AppError =>
  new AppError('idempotency_mismatch', 'This Idempotency-Key was already used with a different request body; use a new key.')
export const inProgressError = (): AppError =>
  new AppError('idempotency_in_progress', 'A request with this Idempotency-Key is still being processed; retry after it completes.')
