import { AppError, type ErrorCode } from '../lib/errors.js'

/** An error smtp-server turns into a reply line: `<code> <enhanced> <message>`. */
export type SmtpError = Error & { responseCode: number }

export const smtpError = (code: number, enhanced: string, message: string): SmtpError =>
  Object.assign(new Error(`${enhanced} ${message.replace(/[\r\n]+/g, ' ')}`), { responseCode: code })

// The SMTP mapping of the API's error codes. Temporary conditions are 4xx so that clients retry:
// nothing was accepted, and a later try can succeed.
const REPLY_BY_CODE: Record<ErrorCode, [number, string]> = {
  validation_failed: [554, '5.6.0'],
  unauthorized: [535, '5.7.8'],
  forbidden: [550, '5.7.1'],
  account_suspended: [550, '5.7.1'],
  not_found: [550, '5.1.0'],
  conflict: [451, '4.3.0'],
  idempotency_mismatch: [554, '5.7.0'],
  idempotency_in_progress: [451, '4.3.0'],
  rate_limited: [451, '4.7.1'],
  payload_too_large: [552, '5.3.4'],
  unavailable: [451, '4.3.0'],
  internal: [451, '4.3.0'],
}

const LOCAL_PROBLEM = 'Temporary local problem; try again later'

/**
 * Maps any error from the domain to an SMTP reply; unknown errors are temporary, never 250. An
 * internal error's text is for operators (the caller logs it), so the client only learns that
 * the problem is ours and temporary.
 */
export function toSmtpError(err: unknown): SmtpError {
  if (!(err instanceof AppError) || err.code === 'internal') return smtpError(451, '4.3.0', LOCAL_PROBLEM)
  const [code, enhanced] = REPLY_BY_CODE[err.code]
  const detail = err.details?.map((d) => `${d.path}: ${d.message}`).join('; ')
  return smtpError(code, enhanced, detail ? `${err.message} (${detail})` : err.message)
}
