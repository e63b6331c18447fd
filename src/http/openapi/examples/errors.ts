import { ACCOUNT_SUSPENDED_MESSAGE } from '../../../modules/api-keys/api-key.service.js'
import { inProgressError, mismatchError } from '../../../modules/emails/idempotency.js'
import { OPERATOR_BLOCK_MS } from '../../plugins/operator-auth.js'
import type { ExampleSet } from '../types.js'
import { REQUEST_ID } from './values.js'

export { REQUEST_ID }

const error = (code: string, message: string, details?: Array<{ path: string; message: string }>) => ({
  error: { code, message, ...(details ? { details } : {}) },
  request_id: REQUEST_ID,
})

/** The examples of the error responses (components.responses), with the messages the server writes. */
export const ERROR_EXAMPLES = {
  unauthorized: {
    invalid: { summary: 'Unknown or revoked key', value: error('unauthorized', 'Invalid or revoked API key') },
    missing: { summary: 'No Authorization header', value: error('unauthorized', 'Missing API key: send "Authorization: Bearer hk_…"') },
  },
  forbidden: {
    forbidden: {
      summary: 'A send-only key on a full-access route',
      value: error('forbidden', 'This API key may only send email; this endpoint needs a full-access key.'),
    },
    account_suspended: { summary: 'The account is suspended', value: error('account_suspended', ACCOUNT_SUSPENDED_MESSAGE) },
  },
  notFound: { not_found: { summary: 'No such email in this account', value: error('not_found', 'Email not found') } },
  conflict: {
    conflict: {
      summary: 'Nothing left to cancel',
      value: error('conflict', 'Nothing to cancel: every recipient is already being sent or finished (status delivered).'),
    },
    idempotency_in_progress: {
      summary: 'The first request with this Idempotency-Key is still running',
      value: error('idempotency_in_progress', inProgressError().message),
    },
  },
  payloadTooLarge: {
    payload_too_large: {
      summary: 'A body past the limit',
      value: error('payload_too_large', 'The request body is larger than this server accepts; see MAX_MESSAGE_BYTES.'),
    },
  },
  validationFailed: {
    validation_failed: {
      summary: 'Every bad field listed',
      value: error('validation_failed', '2 fields are invalid; see details', [
        { path: '/to/0', message: 'invalid address: "ada.example.com" is not an email address (expected user@example.com)' },
        { path: '/subject', message: 'a subject is required (or a template)' },
      ]),
    },
    idempotency_mismatch: {
      summary: 'An Idempotency-Key used with another body',
      value: error('idempotency_mismatch', mismatchError().message),
    },
  },
  rateLimited: {
    rate_limited: {
      summary: "Over the key's rate limit",
      value: error(
        'rate_limited',
        'Rate limit of 6000 requests per 1 minute exceeded for this API key; retry after the Retry-After delay.',
      ),
    },
    quota: {
      summary: "Over the account's quota for a stream",
      value: error(
        'rate_limited',
        "The account's quota for the broadcast stream (50000 recipients per UTC day) is used up; it resets in 52200 s. Ask the operator for a larger quota.",
      ),
    },
  },
  operatorUnauthorized: {
    invalid: {
      summary: 'A wrong token',
      value: error('unauthorized', 'Invalid operator token (the operator API takes OPERATOR_TOKEN, never an API key)'),
    },
  },
  operatorNotFound: {
    not_found: { summary: 'No such account', value: error('not_found', 'Account not found') },
    off: {
      summary: 'OPERATOR_TOKEN is not set',
      value: error('not_found', 'The operator API is off on this server: OPERATOR_TOKEN is not set'),
    },
  },
  operatorValidationFailed: {
    validation_failed: {
      summary: 'A bad field',
      value: error('validation_failed', '/name must NOT have fewer than 1 characters', [
        { path: '/name', message: 'must NOT have fewer than 1 characters' },
      ]),
    },
  },
  operatorRateLimited: {
    rate_limited: {
      summary: `Refused for ${OPERATOR_BLOCK_MS / 60_000} minutes after too many wrong tokens`,
      value: error('rate_limited', 'Too many wrong operator tokens from your address; try again later'),
    },
  },
} satisfies Record<string, ExampleSet>
