import { example, json, type OperationExamples } from './define.js'
import { EMAIL_EVENTS } from './emails.js'
import { at, DAY, T0, uuidAt, WEBHOOK_ID } from './values.js'

const SECRET = 'whsec_MfKQ9r8GKYqXTwJg3Yxm0T2hOxG8a4nZ6wQ1cR5sVbE='
const URL = 'https://app.acme.example/hooks/hikyaku'

const WEBHOOK = {
  id: WEBHOOK_ID,
  url: URL,
  description: 'Bounces and complaints to the CRM',
  event_types: ['email.bounced', 'email.complained'],
  streams: [],
  domains: [],
  tags: {},
  enabled: true,
  disabled_reason: null,
  failing_since: null,
  previous_secret_expires_at: null,
  created_at: at(-20 * DAY),
  updated_at: at(-20 * DAY),
}

const bounced = EMAIL_EVENTS.find((e) => e.type === 'email.bounced')?.id ?? WEBHOOK_ID

const attempt = (
  n: number,
  number: number,
  ms: number,
  status: number | null,
  error: string | null,
  body: string | null,
  duration: number,
) => ({
  id: uuidAt(at(ms), 60 + n),
  event_id: bounced,
  attempt: number,
  started_at: at(ms),
  duration_ms: duration,
  status_code: status,
  error,
  response_body: body,
})

export const WEBHOOK_EXAMPLES: Record<string, OperationExamples> = {
  'POST /v1/webhooks': {
    request: json(
      example('filtered', 'Bounces and complaints only', {
        url: URL,
        description: 'Bounces and complaints to the CRM',
        event_types: ['email.bounced', 'email.complained'],
      }),
      example('broadcast', 'Every event of the broadcast mail from one domain', {
        url: 'https://newsletter.acme.example/events',
        streams: ['broadcast'],
        domains: ['news.acme.example'],
      }),
    ),
    responses: {
      '201': json(
        example('created', 'The signing secret is shown this once', { ...WEBHOOK, created_at: T0, updated_at: T0, secret: SECRET }),
      ),
    },
  },
  'GET /v1/webhooks': { responses: { '200': json(example('page', 'One endpoint', { data: [WEBHOOK], next_cursor: null })) } },
  'GET /v1/webhooks/{id}': { responses: { '200': json(example('endpoint', 'An enabled endpoint', WEBHOOK)) } },
  'PATCH /v1/webhooks/{id}': {
    request: json(
      example('pause', 'Pause the endpoint', { enabled: false }),
      example('filters', 'Also send unsubscribes', { event_types: ['email.bounced', 'email.complained', 'email.unsubscribed'] }),
    ),
    responses: {
      '200': json(example('paused', 'Paused', { ...WEBHOOK, enabled: false, disabled_reason: 'disabled by the account', updated_at: T0 })),
    },
  },
  'DELETE /v1/webhooks/{id}': { responses: { '200': json(example('deleted', 'Deleted', { id: WEBHOOK_ID, deleted: true })) } },
  'POST /v1/webhooks/{id}/rotate-secret': {
    request: json(example('hour', 'The old secret keeps signing for an hour', { overlap_seconds: 3600 })),
    responses: {
      '200': json(
        example('rotated', 'The new secret, shown this once', {
          ...WEBHOOK,
          previous_secret_expires_at: at(3_600_000),
          updated_at: T0,
          secret: 'whsec_2xJ8cT5nQ0rV7yB4mK1pW9sE6hD3gA0fL8uZ5iO2tNc=',
        }),
      ),
    },
  },
  'GET /v1/webhooks/{id}/attempts': {
    responses: {
      '200': json(
        example('log', 'A failure, then its retry', {
          data: [
            attempt(2, 2, 6_500, 204, null, '', 87),
            attempt(1, 1, 1_400, 503, null, '<html><body>Service Unavailable</body></html>', 31),
          ],
          next_cursor: null,
        }),
      ),
    },
  },
  'POST /v1/webhooks/{id}/replay': {
    request: json(
      example('range', 'The events of one hour again', { from: '2026-12-01T09:00:00.000Z', to: '2026-12-01T10:00:00.000Z' }),
      example('one', 'One event again', { event_id: bounced }),
    ),
    responses: { '202': json(example('queued', 'Queued for this endpoint', { queued: 12 })) },
  },
}
