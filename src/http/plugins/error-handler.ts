import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import { isDatabaseUnavailable } from '../../infra/db.js'
import { AppError, type ErrorCode, type ErrorDetail, unavailable } from '../../lib/errors.js'
import { toDetails } from '../validation.js'

export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  validation_failed: 422,
  unauthorized: 401,
  forbidden: 403,
  account_suspended: 403,
  not_found: 404,
  conflict: 409,
  idempotency_mismatch: 422,
  idempotency_in_progress: 409,
  rate_limited: 429,
  payload_too_large: 413,
  unavailable: 503,
  internal: 500,
}

export function sendError(reply: FastifyReply, err: AppError): FastifyReply {
  if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter))
  const error: { code: ErrorCode; message: string; details?: ErrorDetail[] } = { code: err.code, message: err.message }
  if (err.details) error.details = err.details
  return reply.status(STATUS_BY_CODE[err.code]).send({ error, request_id: reply.request.id })
}

/** Fastify's own errors, in our envelope and codes. */
function fromFastify(err: FastifyError): AppError | undefined {
  if (err.validation) {
    const details = toDetails(err.validation as never, err.validationContext ?? 'body')
    return new AppError(
      'validation_failed',
      details.length === 1 ? `${details[0]?.path || 'body'} ${details[0]?.message}` : `${details.length} fields are invalid; see details`,
      { details },
    )
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('payload_too_large', 'The request body is larger than this server accepts; see MAX_MESSAGE_BYTES.')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('validation_failed', 'The body is not valid JSON.', { details: [{ path: '', message: err.message }] })
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('validation_failed', 'Send the body as application/json.', {
        details: [{ path: '', message: 'unsupported content type' }],
      })
    default:
      if (err.statusCode === 429) return new AppError('rate_limited', err.message)
      return undefined
  }
}

export const INTERNAL_MESSAGE = 'Something went wrong on our side; the request id identifies it in our logs.'

/** One envelope for every error; 5xx never leak internals, but are logged in full. */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const appError =
      err instanceof AppError
        ? err
        : isDatabaseUnavailable(err)
          ? unavailable('The database is unavailable; retry shortly.', 5, err)
          : fromFastify(err)
    if (appError && appError.code !== 'internal') {
      if (appError.code === 'unavailable') request.log.warn({ err: appError.cause ?? appError }, appError.message)
      return sendError(reply, appError)
    }
    // An internal error's own text is for operators (it may name a domain, a key or a setting):
    // logged in full with its causes, never sent.
    request.log.error({ err }, appError ? 'internal error' : 'unhandled error')
    return sendError(reply, new AppError('internal', INTERNAL_MESSAGE))
  })
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new AppError('not_found', `No route ${request.method} ${request.url.split('?')[0]}`)),
  )
}
