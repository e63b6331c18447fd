import { example, json, type OperationExamples } from './define.js'
import { ACCOUNT_ID, API_KEY, API_KEY_HINT, at, cursorAfter, DAY, T0, uuidAt } from './values.js'

const NEW_ACCOUNT_ID = uuidAt(T0, 31)
const QUOTAS = { broadcast: { day: 50_000, month: 1_000_000 } }
const REASON = 'Complaint rate above 0.3 % on 2026-11-30; held until the list is cleaned'

const account = (overrides: Record<string, unknown> = {}) => ({
  id: ACCOUNT_ID,
  name: 'Acme',
  created_at: at(-120 * DAY),
  suspended: false,
  suspended_at: null,
  suspended_reason: null,
  quotas: QUOTAS,
  retention: { body_days: null, metadata_days: null },
  ...overrides,
})

const SUSPENDED = account({ suspended: true, suspended_at: T0, suspended_reason: REASON })

const apiKey = (id: string, scope: string, name: string | null) => ({
  id,
  name,
  scope,
  hint: API_KEY_HINT,
  created_at: T0,
  last_used_at: null,
  revoked_at: null,
})

export const OPERATOR_EXAMPLES: Record<string, OperationExamples> = {
  'GET /healthz': { responses: { '200': json(example('alive', 'Alive', { status: 'ok' })) } },
  'GET /readyz': {
    responses: {
      '200': json(example('ready', 'Both answer', { status: 'ok', checks: { postgres: 'ok', redis: 'ok' } })),
      '503': json(example('redis_down', 'Redis does not answer', { status: 'unavailable', checks: { postgres: 'ok', redis: 'down' } })),
    },
  },

  'POST /v1/operator/accounts': {
    request: json(example('account', 'A new tenant', { name: 'Globex' })),
    responses: {
      '201': json(
        example('created', 'The account and its first full-access key, shown this once', {
          account: account({ id: NEW_ACCOUNT_ID, name: 'Globex', created_at: T0, quotas: {} }),
          key: API_KEY,
          api_key: apiKey(uuidAt(T0, 32), 'full', null),
        }),
      ),
    },
  },
  'GET /v1/operator/accounts': {
    responses: {
      '200': json(
        example('page', 'Newest first, with more to fetch', {
          data: [account({ id: NEW_ACCOUNT_ID, name: 'Globex', created_at: T0, quotas: {} }), account()],
          next_cursor: cursorAfter(ACCOUNT_ID),
        }),
      ),
    },
  },
  'GET /v1/operator/accounts/{id}': { responses: { '200': json(example('account', 'An account with a broadcast quota', account())) } },
  'POST /v1/operator/accounts/{id}/suspend': {
    request: json(example('suspend', 'Why, for operators', { reason: REASON })),
    responses: { '200': json(example('suspended', 'Suspended', SUSPENDED)) },
  },
  'PUT /v1/operator/accounts/{id}/retention': {
    request: json(example('retention', 'Bodies for 7 days, the rest for the default', { body_days: 7, metadata_days: null })),
    responses: {
      '200': json(example('account', 'The account with its own retention', account({ retention: { body_days: 7, metadata_days: null } }))),
    },
  },
  'POST /v1/operator/accounts/{id}/unsuspend': {
    responses: { '200': json(example('active', 'The suspension lifted', account())) },
  },
  'PUT /v1/operator/accounts/{id}/quotas/{stream}': {
    request: json(example('quota', 'Recipients per UTC day and month', QUOTAS.broadcast)),
    responses: { '200': json(example('quotas', "The account's quotas", { account_id: ACCOUNT_ID, quotas: QUOTAS })) },
  },
  'DELETE /v1/operator/accounts/{id}/quotas/{stream}': {
    responses: {
      '200': json(example('cleared', 'No quota of its own left: the streams’ defaults apply', { account_id: ACCOUNT_ID, quotas: {} })),
    },
  },
  'POST /v1/operator/accounts/{id}/keys': {
    request: json(example('send', 'A send-only key', { scope: 'send', name: 'Newsletter' })),
    responses: {
      '201': json(
        example('created', 'The secret is shown this once', { key: API_KEY, api_key: apiKey(uuidAt(T0, 33), 'send', 'Newsletter') }),
      ),
    },
  },
}
