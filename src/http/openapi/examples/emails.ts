import { example, json, type OperationExamples } from './define.js'
import { at, CAMPAIGN_ID, cursorAfter, EMAIL_ID, eventId, FROM, SECOND_EMAIL_ID, SENDING_DOMAIN, T0, uuidAt } from './values.js'

interface Reply {
  code: number
  enhanced: string
  text: string
}

const TAGS = { kind: 'receipt', order: '2041' }
const ADA = 'ada@example.com'
const GRACE = 'grace@example.net'
const ADA_MX = { remote_host: 'mx1.example.com', remote_ip: '203.0.113.25', tls_version: 'TLSv1.3' }
const GRACE_MX = { remote_host: 'mx.example.net', remote_ip: '198.51.100.7', tls_version: 'TLSv1.3' }
const GREYLISTED: Reply = { code: 451, enhanced: '4.7.1', text: 'Greylisted, please try again in 60 seconds' }
const NO_SUCH_USER: Reply = { code: 550, enhanced: '5.1.1', text: '<grace@example.net>: Recipient address rejected: User unknown' }
const ACCEPTED: Reply = { code: 250, enhanced: '2.0.0', text: 'Ok: queued as 4Xq2Lk0hZsz9' }
const replyData = (r: Reply) => ({ smtp_code: r.code, enhanced_code: r.enhanced, reply: r.text })
const lastReply = (r: Reply) => ({ code: r.code, enhanced_code: r.enhanced, text: r.text })

const event = (ms: number, n: number, type: string, recipient: string, data: Record<string, unknown>) => ({
  id: eventId(ms, n),
  type,
  created_at: at(ms),
  email_id: EMAIL_ID,
  recipient,
  tags: TAGS,
  data,
})

/** The example email's events: accepted for two recipients, one greylisted then delivered, one bounced. */
export const EMAIL_EVENTS = [
  event(0, 1, 'email.queued', ADA, {}),
  event(0, 2, 'email.queued', GRACE, {}),
  event(900, 3, 'email.deferred', ADA, {
    attempt: 1,
    ...replyData(GREYLISTED),
    ...ADA_MX,
    duration_ms: 412,
    reason: 'waiting_retry',
    next_attempt_at: at(61_000),
  }),
  event(1_300, 4, 'email.bounced', GRACE, {
    attempt: 1,
    ...replyData(NO_SUCH_USER),
    ...GRACE_MX,
    duration_ms: 803,
    bounce_category: 'hard',
    async: false,
  }),
  event(61_700, 5, 'email.delivered', ADA, {
    attempt: 2,
    ...replyData(ACCEPTED),
    ...ADA_MX,
    duration_ms: 688,
  }),
]

const attempt = (recipient: string, number: number, start: number, end: number, outcome: string, mx: typeof ADA_MX, reply: Reply) => ({
  recipient,
  number,
  started_at: at(start),
  finished_at: at(end),
  outcome,
  phase: outcome === 'delivered' ? 'done' : 'rcpt',
  remote_host: mx.remote_host,
  remote_ip: mx.remote_ip,
  smtp_code: reply.code,
  enhanced_code: reply.enhanced,
  reply: reply.text,
  tls_version: mx.tls_version,
  tls_cipher: 'TLS_AES_256_GCM_SHA384',
  duration_ms: end - start,
})

const EMAIL_DETAIL = {
  id: EMAIL_ID,
  status: 'partially_delivered',
  source: 'api',
  from: FROM,
  to: [`Ada Lovelace <${ADA}>`, GRACE],
  cc: [],
  reply_to: [`support@${SENDING_DOMAIN}`],
  subject: 'Your receipt for order #2041',
  headers: { 'X-Order-Id': '2041' },
  tags: TAGS,
  stream: 'transactional',
  message_id: `<${EMAIL_ID}@${SENDING_DOMAIN}>`,
  size_bytes: 48_213,
  scheduled_at: null,
  expires_at: at(72 * 3_600_000),
  created_at: T0,
  updated_at: at(61_700),
  attachments: [{ filename: 'receipt-2041.pdf', content_type: 'application/pdf', content_id: null, size: 35_120 }],
  recipients: [
    {
      address: ADA,
      kind: 'to',
      status: 'delivered',
      reason: null,
      attempts: 2,
      attempts_total: 2,
      next_attempt_at: null,
      last_reply: lastReply(ACCEPTED),
      possible_duplicate: false,
      bounce_category: null,
      updated_at: at(61_700),
    },
    {
      address: GRACE,
      kind: 'to',
      status: 'bounced',
      reason: null,
      attempts: 1,
      attempts_total: 1,
      next_attempt_at: null,
      last_reply: lastReply(NO_SUCH_USER),
      possible_duplicate: false,
      bounce_category: 'hard',
      updated_at: at(1_300),
    },
  ],
  attempts: [
    attempt(ADA, 1, 488, 900, 'deferred', ADA_MX, GREYLISTED),
    attempt(GRACE, 1, 497, 1_300, 'bounced', GRACE_MX, NO_SUCH_USER),
    attempt(ADA, 2, 61_012, 61_700, 'delivered', ADA_MX, ACCEPTED),
  ],
  events: EMAIL_EVENTS,
}

const summary = (id: string, status: string, to: string[], subject: string, created: number, updated: number) => ({
  id,
  status,
  source: 'api',
  from: FROM,
  to,
  subject,
  tags: TAGS,
  stream: 'transactional',
  scheduled_at: null,
  created_at: at(created),
  updated_at: at(updated),
})

export const EMAIL_EXAMPLES: Record<string, OperationExamples> = {
  'POST /v1/emails': {
    request: json(
      example('html', 'HTML and text, with an attachment', {
        from: FROM,
        to: [`Ada Lovelace <${ADA}>`, GRACE],
        reply_to: `support@${SENDING_DOMAIN}`,
        subject: 'Your receipt for order #2041',
        text: 'Thank you for your order #2041. Your receipt is attached.',
        html: '<p>Thank you for your order <b>#2041</b>. Your receipt is attached.</p>',
        headers: { 'X-Order-Id': '2041' },
        attachments: [
          {
            filename: 'receipt-2041.pdf',
            content: 'JVBERi0xLjcKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK',
            content_type: 'application/pdf',
          },
        ],
        tags: TAGS,
      }),
      example('template', 'From a template', {
        from: FROM,
        to: ADA,
        template: 'welcome',
        variables: { first_name: 'Ada', plan: 'Pro' },
        tags: { kind: 'welcome' },
      }),
      example('scheduled_broadcast', 'A broadcast of a campaign, sent later', {
        from: FROM,
        to: ADA,
        subject: 'What is new in December',
        html: '<h1>December news</h1><p>…</p>',
        stream: 'broadcast',
        campaign: CAMPAIGN_ID,
        scheduled_at: '2026-12-02T08:00:00+09:00',
      }),
    ),
    responses: {
      '202': json(
        example('accepted', 'Accepted', { id: EMAIL_ID, status: 'queued', suppressed: [] }),
        example('suppressed', 'Accepted; one recipient is on the suppression list', {
          id: EMAIL_ID,
          status: 'queued',
          suppressed: [{ address: GRACE, reason: 'hard_bounce' }],
        }),
      ),
    },
  },

  'POST /v1/emails/batch': {
    request: json(
      example('partial', 'One template, three recipients; the invalid one is listed in errors', {
        mode: 'partial',
        defaults: { from: FROM, template: 'order-shipped', tags: { kind: 'shipping' } },
        emails: [
          { to: ADA, variables: { order: '2041' }, idempotency_key: 'order-2041-shipped' },
          { to: GRACE, variables: { order: '2042' }, idempotency_key: 'order-2042-shipped' },
          { to: 'ada.example.com', variables: { order: '2043' }, idempotency_key: 'order-2043-shipped' },
        ],
      }),
    ),
    responses: {
      '202': json(
        example('partial', 'Two accepted, one refused', {
          data: [
            { index: 0, id: EMAIL_ID, status: 'queued', suppressed: [] },
            { index: 1, id: uuidAt(T0, 11), status: 'queued', suppressed: [] },
          ],
          errors: [
            {
              index: 2,
              error: {
                code: 'validation_failed',
                message: '/emails/2/to: invalid address: "ada.example.com" is not an email address (expected user@example.com)',
                details: [
                  {
                    path: '/emails/2/to',
                    message: 'invalid address: "ada.example.com" is not an email address (expected user@example.com)',
                  },
                ],
              },
            },
          ],
        }),
      ),
    },
  },

  'GET /v1/emails': {
    responses: {
      '200': json(
        example('page', 'A page of two emails, with more to fetch', {
          data: [
            summary(SECOND_EMAIL_ID, 'queued', ['Alan Turing <alan@example.org>'], 'Your receipt for order #2044', 45_000, 45_000),
            summary(EMAIL_ID, 'partially_delivered', [`Ada Lovelace <${ADA}>`, GRACE], 'Your receipt for order #2041', 0, 61_700),
          ],
          next_cursor: cursorAfter(EMAIL_ID),
        }),
      ),
    },
  },

  'GET /v1/emails/{id}': {
    responses: { '200': json(example('partially_delivered', 'One recipient delivered, one bounced', EMAIL_DETAIL)) },
  },

  'GET /v1/emails/{id}/events': {
    responses: { '200': json(example('events', 'Every event of the email', { data: EMAIL_EVENTS, next_cursor: null })) },
  },

  'POST /v1/emails/{id}/cancel': {
    responses: {
      '200': json(example('cancelled', 'Every recipient was still waiting', { id: SECOND_EMAIL_ID, status: 'cancelled', cancelled: 1 })),
    },
  },
}
