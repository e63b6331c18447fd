/**
 * Transport-agnostic errors with a closed set of stable codes. The HTTP and SMTP adapters each
 * own one mapper from these codes to their own replies; domain code never knows about either.
 */
export const ERROR_CODES = [
  'validation_failed',
  'unauthorized',
  'forbidden',
  'account_suspended',
  'not_found',
  'conflict',
  'idempotency_mismatch',
  'idempotency_in_progress',
  'rate_limited',
  'payload_too_large',
  'unavailable',
  'internal',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export interface ErrorDetail {
  /** JSON Pointer into the request, e.g. `/to/0`. */
  path: string
  message: string
}

export class AppError extends Error {
  readonly code: ErrorCode
  readonly details: ErrorDetail[] | undefined
  /** Seconds the caller should wait before retrying (rate limits, unavailability). */
  readonly retryAfter: number | undefined

  constructor(code: ErrorCode, message: string, options: { details?: ErrorDetail[]; retryAfter?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.details = options.details
    this.retryAfter = options.retryAfter
  }
}

/** At most this many details in one answer: a hostile body must not make a huge one. */
export const MAX_ERROR_DETAILS = 100

export const validationFailed = (all: ErrorDetail[]): AppError => {
  const details =
    all.length > MAX_ERROR_DETAILS
      ? [...all.slice(0, MAX_ERROR_DETAILS), { path: '', message: `and ${all.length - MAX_ERROR_DETAILS} more problems not listed` }]
      : all
  return new AppError(
    'validation_failed',
    all.length === 1 && all[0] ? `${all[0].path || 'body'}: ${all[0].message}` : `${all.length} fields are invalid; see details`,
    { details },
  )
}

export const notFound = (what: string): AppError => new AppError('not_found', `${what} not found`)

export const unavailable = (message: string, retryAfter = 5, cause?: unknown): AppError =>
  new AppError('unavailable', message, { retryAfter, cause })
