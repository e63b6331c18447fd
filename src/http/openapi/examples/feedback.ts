import { ratesOf } from '../../../modules/stats/stats.service.js'
import { STAT_METRICS, type StatCounts } from '../../../modules/stats/stats.types.js'
import { example, json, type OperationExamples } from './define.js'
import { EMAIL_EVENTS } from './emails.js'
import { at, DAY, EMAIL_ID, eventId, SECOND_EMAIL_ID, T0, uuidAt } from './values.js'

const feedCursor = (txid: string, id: string): string => Buffer.from(`f1:${txid}:${id}`).toString('base64url')

const LATER_EVENT = {
  id: eventId(45_000, 6),
  type: 'email.queued',
  created_at: at(45_000),
  email_id: SECOND_EMAIL_ID,
  recipient: 'alan@example.org',
  tags: { kind: 'receipt', order: '2044' },
  data: {},
}
const FEED = [...EMAIL_EVENTS, LATER_EVENT]

const counts = (values: Partial<StatCounts>): StatCounts =>
  Object.fromEntries(STAT_METRICS.map((metric) => [metric, values[metric] ?? 0])) as StatCounts

const add = (a: StatCounts, b: StatCounts): StatCounts => counts(Object.fromEntries(STAT_METRICS.map((m) => [m, a[m] + b[m]])))

const DAY_ONE = counts({
  accepted: 1_840,
  delivered: 1_812,
  deferred: 37,
  bounced: 14,
  bounced_hard: 9,
  bounced_soft: 3,
  bounced_policy: 2,
  complained: 1,
  unsubscribed: 3,
  suppressed: 6,
  expired: 1,
})
const DAY_TWO = counts({
  accepted: 2_105,
  delivered: 2_080,
  deferred: 22,
  bounced: 11,
  bounced_hard: 8,
  bounced_soft: 3,
  unsubscribed: 5,
  suppressed: 9,
})
const TOTAL = add(DAY_ONE, DAY_TWO)

const STATS = {
  from: '2026-11-29T00:00:00.000Z',
  to: '2026-12-01T00:00:00.000Z',
  interval: 'day',
  counted_up_to: at(-2_000),
  counts: TOTAL,
  rates: ratesOf(TOTAL),
  series: [
    { start: '2026-11-29T00:00:00.000Z', counts: DAY_ONE },
    { start: '2026-11-30T00:00:00.000Z', counts: DAY_TWO },
  ],
}

const GRACE_RECIPIENT_ID = uuidAt(T0, 41)

const suppression = (address: string, stream: string | null, reason: string, source: Record<string, unknown>, created: number) => ({
  address,
  stream,
  reason,
  source,
  expires_at: null,
  created_at: at(created),
})

const HARD_BOUNCE = suppression('grace@example.net', null, 'hard_bounce', { email_id: EMAIL_ID, recipient_id: GRACE_RECIPIENT_ID }, 1_300)
const UNSUBSCRIBE = suppression(
  'alan@example.org',
  'broadcast',
  'unsubscribe',
  { email_id: uuidAt(at(-5 * DAY), 42), recipient_id: uuidAt(at(-5 * DAY), 43), method: 'one_click' },
  -4 * DAY,
)
const MANUAL = {
  ...suppression('ada@example.com', 'broadcast', 'manual', { origin: 'api', note: 'Asked by phone not to get newsletters' }, 0),
  expires_at: '2027-06-01T00:00:00.000Z',
}

const EXPORT_CSV =
  'address,reason,stream,expires_at,created_at\r\n' +
  `alan@example.org,unsubscribe,broadcast,,${UNSUBSCRIBE.created_at}\r\n` +
  `grace@example.net,hard_bounce,,,${HARD_BOUNCE.created_at}\r\n`

export const FEEDBACK_EXAMPLES: Record<string, OperationExamples> = {
  'GET /v1/events': {
    responses: {
      '200': json(
        example('page', 'Every event so far; poll again later with next_cursor as after', {
          data: FEED,
          next_cursor: feedCursor('4087211', LATER_EVENT.id),
          has_more: false,
        }),
      ),
    },
  },

  'GET /v1/stats': {
    responses: {
      '200': json(example('days', '?from=2026-11-29T00:00:00Z&to=2026-12-01T00:00:00Z (by day, the default)', STATS)),
    },
  },

  'GET /v1/suppressions': {
    responses: {
      '200': json(example('page', 'Newest first', { data: [MANUAL, HARD_BOUNCE, UNSUBSCRIBE], next_cursor: null })),
    },
  },
  'POST /v1/suppressions': {
    request: json(
      example('broadcast', 'No newsletters to this address until June', {
        address: 'ada@example.com',
        stream: 'broadcast',
        expires_at: '2027-06-01T00:00:00.000Z',
        note: 'Asked by phone not to get newsletters',
      }),
      example('everything', 'No mail at all to this address', { address: 'ada@example.com' }),
    ),
    responses: {
      '201': json(example('created', 'Added', MANUAL)),
      '200': json(example('existing', 'Already on the list: its entry, the expiry extended', MANUAL)),
    },
  },
  'GET /v1/suppressions/{address}': { responses: { '200': json(example('entry', 'A hard bounce, for every stream', HARD_BOUNCE)) } },
  'GET /v1/suppressions/export': {
    responses: {
      '200': {
        'text/csv': example('csv', '?format=csv (the default)', EXPORT_CSV),
        'application/json': example('json', '?format=json', { suppressions: [UNSUBSCRIBE, HARD_BOUNCE] }),
      },
    },
  },
  'POST /v1/suppressions/import': {
    request: {
      'application/json': example('json', 'Bounces and complaints from another provider', {
        suppressions: [
          { address: 'grace@example.net', reason: 'hard_bounce' },
          { address: 'alan@example.org', reason: 'complaint', stream: 'broadcast' },
          { address: 'ada@example.com', expires_at: '2027-06-01T00:00:00.000Z' },
        ],
      }),
      'text/csv': example(
        'csv',
        'The same as CSV',
        'address,reason,stream,expires_at\r\ngrace@example.net,hard_bounce,,\r\nalan@example.org,complaint,broadcast,\r\nada@example.com,,,2027-06-01T00:00:00.000Z\r\n',
      ),
    },
    responses: {
      '200': json(
        example('imported', 'Two new entries; one address was already on the list', { received: 3, created: 2, updated: 0, unchanged: 1 }),
      ),
    },
  },
}
