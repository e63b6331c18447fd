import { BUSY_MESSAGE } from '../plugins/admission.js'
import { OPERATOR_BLOCK_MS, OPERATOR_MAX_FAILURES } from '../plugins/operator-auth.js'
import { ERROR_EXAMPLES, REQUEST_ID } from './examples/errors.js'
import { type ExampleSet, isOperatorRoute, type Response } from './types.js'

/** Every tag the routes use, in the order the reference shows them. */
export const TAGS = [
  { name: 'emails', description: 'Send and track email' },
  { name: 'events', description: "The account's events feed: every delivery outcome, resumable from a cursor (full-access keys only)" },
  { name: 'stats', description: 'Counts per event and rates over time, from hourly rollups (full-access keys only)' },
  {
    name: 'suppressions',
    description: 'Addresses mail is not sent to: hard bounces, complaints, unsubscribes, and entries added by hand (full-access keys only)',
  },
  {
    name: 'webhooks',
    description: 'Webhook endpoints: signed POSTs of every event, retried, logged and replayable (full-access keys only)',
  },
  { name: 'domains', description: 'Sending domains: DKIM keys, DNS records and verification (full-access keys only)' },
  {
    name: 'destinations',
    description: "What the mailbox providers' replies did: pauses, the rule that fired, mail held back (full-access keys only)",
  },
  {
    name: 'campaigns',
    description: 'Campaigns that group broadcast sends: spread over time, paused, resumed or cancelled together (full-access keys only)',
  },
  { name: 'templates', description: 'Liquid templates with versions, named by sends and batches (full-access keys only)' },
  {
    name: 'streams',
    description:
      "The account's streams (transactional, broadcast, configured ones) and the complaint-rate guard's pauses (full-access keys only)",
  },
  { name: 'api-keys', description: 'Manage API keys (full-access keys only)' },
  { name: 'account', description: "The account's settings: the footer of its broadcast mail (full-access keys only)" },
  {
    name: 'operator',
    description:
      "The server operator's API: accounts across tenants, their suspension, quotas and keys. Authenticated with OPERATOR_TOKEN, never with an API key; every route answers 404 while OPERATOR_TOKEN is unset",
  },
  { name: 'operations', description: 'Health and readiness' },
]

/** `bearer` (API keys) is the document's default; the operator routes take `operatorToken` instead. */
export const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer', description: 'An API key, `hk_<id>_<secret>`' },
  operatorToken: {
    type: 'http',
    scheme: 'bearer',
    description: "OPERATOR_TOKEN, the server's operator secret (`Authorization: Bearer <OPERATOR_TOKEN>`); API keys are refused",
  },
} as const
export const OPERATOR_SECURITY = [{ operatorToken: [] as string[] }]

const RATE_LIMIT_SENT =
  'Sent on every response of the account routes under /v1 once the API key is authenticated: not with a 401, a 403, or a 503 of admission control, which come before it; never by the operator routes.'

/** Response headers, as the rate limit (@fastify/rate-limit, draft spec names), the error handler and the send routes write them. */
export const HEADERS = {
  'RateLimit-Limit': {
    description: `Requests this API key may make per window (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW). ${RATE_LIMIT_SENT}`,
    schema: { type: 'integer', minimum: 1 },
    example: 6000,
  },
  'RateLimit-Remaining': {
    description: `Requests left to this API key in the current window. ${RATE_LIMIT_SENT}`,
    schema: { type: 'integer', minimum: 0 },
    example: 5987,
  },
  'RateLimit-Reset': {
    description: `Seconds until the current window ends and the count starts again. ${RATE_LIMIT_SENT}`,
    schema: { type: 'integer', minimum: 0 },
    example: 42,
  },
  'Retry-After': {
    description:
      'Seconds to wait before retrying: until the rate-limit window or the quota period ends, or the operator API stops refusing the address (429); a few seconds while Hikyaku is busy or its database is unreachable (503).',
    schema: { type: 'integer', minimum: 0 },
    example: 2,
  },
  'Idempotent-Replayed': {
    description:
      '`true` when this is the stored answer to an earlier request with the same Idempotency-Key (kept 24 hours): nothing new was accepted. Absent otherwise.',
    schema: { type: 'string', enum: ['true'] },
    example: 'true',
  },
}
export type HeaderName = keyof typeof HEADERS

export const RATE_LIMIT_HEADERS: HeaderName[] = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']

/** `headers` of a response: a $ref to components.headers for each name (a fresh object each time). */
export const headerRefs = (names: HeaderName[]): Record<string, { $ref: string }> =>
  Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]))

export const IDEMPOTENCY_KEY_DESCRIPTION =
  'A key of your choosing (1-256 characters) that makes retrying safe: the same key with the same body within 24 hours is answered with the stored answer and `Idempotent-Replayed: true`, and nothing new is accepted; with a different body, 422 idempotency_mismatch; while the first request is still running, 409 idempotency_in_progress.'

interface ErrorResponseSpec {
  status: string
  description: string
  examples: ExampleSet
  headers: HeaderName[]
}

/** The error responses of the account routes under /v1, by status. */
const ACCOUNT_ERRORS: Record<string, ErrorResponseSpec> = {
  Unauthorized: {
    status: '401',
    description: 'The Authorization header is missing or malformed, or names an API key that does not exist or is revoked.',
    examples: ERROR_EXAMPLES.unauthorized,
    headers: [],
  },
  Forbidden: {
    status: '403',
    description:
      "A send-only key called a route that needs a full-access key (`forbidden`), or the operator suspended the key's account (`account_suspended`).",
    examples: ERROR_EXAMPLES.forbidden,
    headers: [],
  },
  NotFound: {
    status: '404',
    description: "The account has nothing with this id or name (another account's ids are not found either).",
    examples: ERROR_EXAMPLES.notFound,
    headers: RATE_LIMIT_HEADERS,
  },
  Conflict: {
    status: '409',
    description:
      'The request conflicts with the state of what it names: nothing left to cancel, a name already taken, a campaign or stream not in a state that allows the action, a send into a paused stream or a cancelled campaign (`conflict`); or a request with the same Idempotency-Key is still running (`idempotency_in_progress`).',
    examples: ERROR_EXAMPLES.conflict,
    headers: RATE_LIMIT_HEADERS,
  },
  PayloadTooLarge: {
    status: '413',
    description:
      'The body is larger than the route accepts (sends: about 1.5 × MAX_MESSAGE_BYTES; suppression imports: 8 MiB), or the message it makes would pass MAX_MESSAGE_BYTES once encoded.',
    examples: ERROR_EXAMPLES.payloadTooLarge,
    headers: RATE_LIMIT_HEADERS,
  },
  ValidationFailed: {
    status: '422',
    description:
      'The request is invalid (`validation_failed`): `details` lists every problem with a JSON Pointer into the body, or /query/…, /params/…, /headers/… outside it. Sends also answer `idempotency_mismatch` when their Idempotency-Key was used with a different body.',
    examples: ERROR_EXAMPLES.validationFailed,
    headers: RATE_LIMIT_HEADERS,
  },
  RateLimited: {
    status: '429',
    description:
      "The API key is over its rate limit (RATE_LIMIT_MAX requests per RATE_LIMIT_WINDOW), or a send is over the account's quota for its stream. Retry after Retry-After.",
    examples: ERROR_EXAMPLES.rateLimited,
    headers: ['Retry-After', ...RATE_LIMIT_HEADERS],
  },
  Unavailable: {
    status: '503',
    description:
      'Hikyaku cannot take the request now: the delivery backlog is past ADMISSION_MAX_BACKLOG (sends), the request bodies in flight fill HTTP_BODY_BUDGET, or the database is unreachable. Retry after Retry-After.',
    examples: {
      busy: { summary: 'Admission control', value: { error: { code: 'unavailable', message: BUSY_MESSAGE }, request_id: REQUEST_ID } },
    },
    headers: ['Retry-After', ...RATE_LIMIT_HEADERS],
  },
}

/** The error responses of the operator API (/v1/operator), by status. */
const OPERATOR_ERRORS: Record<string, ErrorResponseSpec> = {
  OperatorUnauthorized: {
    status: '401',
    description: 'The Authorization header is missing or malformed, or its token is not OPERATOR_TOKEN (an API key never is).',
    examples: ERROR_EXAMPLES.operatorUnauthorized,
    headers: [],
  },
  OperatorNotFound: {
    status: '404',
    description: 'The operator API is off (OPERATOR_TOKEN is not set on this server), or no account has this id.',
    examples: ERROR_EXAMPLES.operatorNotFound,
    headers: [],
  },
  OperatorValidationFailed: {
    status: '422',
    description: 'The request is invalid (`validation_failed`): `details` lists every problem with a JSON Pointer into the request.',
    examples: ERROR_EXAMPLES.operatorValidationFailed,
    headers: [],
  },
  OperatorRateLimited: {
    status: '429',
    description: `${OPERATOR_MAX_FAILURES} wrong operator tokens came from this address: it is refused for ${OPERATOR_BLOCK_MS / 60_000} minutes (per API process), whatever token it sends. Retry after Retry-After.`,
    examples: ERROR_EXAMPLES.operatorRateLimited,
    headers: ['Retry-After'],
  },
}

const toResponse = (spec: ErrorResponseSpec): Response => ({
  description: spec.description,
  ...(spec.headers.length > 0 ? { headers: headerRefs(spec.headers) } : {}),
  content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' }, examples: spec.examples } },
})

/** components.responses: one entry per error status of each API. */
export const errorResponses = (): Record<string, Response> =>
  Object.fromEntries(Object.entries({ ...ACCOUNT_ERRORS, ...OPERATOR_ERRORS }).map(([name, spec]) => [name, toResponse(spec)]))

/** The components.responses entry for an error status of a route; undefined for a status none covers. */
export function errorResponseName(path: string, status: string): string | undefined {
  const table = isOperatorRoute(path) ? OPERATOR_ERRORS : ACCOUNT_ERRORS
  return Object.entries(table).find(([, spec]) => spec.status === status)?.[0]
}
