import { Type } from 'typebox'
import { MAX_ATTEMPTS_SHOWN, PENDING_STATUSES, TERMINAL_STATUSES } from '../../modules/emails/email.types.js'
import { MAX_REPLY_TO } from '../../modules/emails/email.validate.js'
import { Cursor, LimitQuery, Nullable, Timestamp } from './common.js'

const Address = Type.String({ minLength: 1, maxLength: 998, examples: ['Ada <ada@example.com>'] })
// MAX_RECIPIENTS can be raised to 1000 (config.keys.ts), so one list may hold that many; the
// configured cap over to, cc and bcc together is checked before any address is parsed.
const AddressList = (maxItems: number) =>
  Type.Union([Address, Type.Array(Address, { maxItems })], { description: 'One address or an array of addresses' })
const RecipientList = AddressList(1000)

// The statuses as the domain defines them: the API cannot drift from them.
const EMAIL_STATUSES = [...PENDING_STATUSES, ...TERMINAL_STATUSES] as const
export const RecipientStatusSchema = Type.Enum(EMAIL_STATUSES)
export const EmailStatusSchema = Type.Enum([...EMAIL_STATUSES, 'partially_delivered'] as const)

export const SendEmailBodySchema = Type.Object(
  {
    from: Type.String({ minLength: 1, maxLength: 998, description: '"Name <addr>" or addr' }),
    to: Type.Optional(RecipientList),
    cc: Type.Optional(RecipientList),
    bcc: Type.Optional(RecipientList),
    reply_to: Type.Optional(AddressList(MAX_REPLY_TO)),
    subject: Type.Optional(Type.String({ maxLength: 998, description: 'Required unless a template is named' })),
    text: Type.Optional(Type.String()),
    html: Type.Optional(Type.String()),
    headers: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Custom headers; protected ones are refused' })),
    attachments: Type.Optional(
      Type.Array(
        Type.Object(
          {
            filename: Type.String({ minLength: 1, maxLength: 255 }),
            content: Type.String({ description: 'Base64' }),
            content_type: Type.Optional(Type.String({ maxLength: 255 })),
            content_id: Type.Optional(Type.String({ maxLength: 255, description: 'For inline images: reference as cid:<content_id>' })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 100 },
      ),
    ),
    tags: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Up to 10; echoed in events' })),
    stream: Type.Optional(
      Type.String({ maxLength: 32, description: 'transactional (default), broadcast, or a stream the operator configured (STREAMS)' }),
    ),
    scheduled_at: Type.Optional(Type.String({ format: 'date-time', description: 'RFC 3339 with a time zone; at most 30 days ahead' })),
    template: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: 'A template id or name: gives subject, text and html' }),
    ),
    template_version: Type.Optional(Type.Integer({ minimum: 1, description: "The template's version (its current one when absent)" })),
    variables: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "The template's variables" })),
    campaign: Type.Optional(Type.String({ format: 'uuid', description: 'A campaign of the account (POST /v1/campaigns)' })),
  },
  { additionalProperties: false },
)

export const BatchItemSchema = Type.Object(
  {
    ...SendEmailBodySchema.properties,
    from: Type.Optional(SendEmailBodySchema.properties.from),
    idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
)

export const SendBatchBodySchema = Type.Object(
  {
    mode: Type.Optional(
      Type.Enum(['partial', 'strict'] as const, { description: 'partial (default): valid items are accepted; strict: all or nothing' }),
    ),
    defaults: Type.Optional(
      Type.Object(BatchItemSchema.properties, { additionalProperties: false, description: 'Fields every item starts from' }),
    ),
    emails: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      minItems: 1,
      maxItems: 1000,
      description: 'Each a send body (fields as POST /v1/emails, plus idempotency_key)',
    }),
  },
  { additionalProperties: false },
)

export const BatchAcceptedSchema = Type.Object({
  data: Type.Array(
    Type.Object({
      index: Type.Integer(),
      id: Type.String({ format: 'uuid' }),
      status: Type.String(),
      suppressed: Type.Array(Type.Object({ address: Type.String(), reason: Type.String() })),
      replayed: Type.Optional(Type.Boolean()),
    }),
  ),
  errors: Type.Array(
    Type.Object({
      index: Type.Integer(),
      error: Type.Object({
        code: Type.String(),
        message: Type.String(),
        details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
      }),
    }),
  ),
})

export const AcceptedSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  status: EmailStatusSchema,
  suppressed: Type.Array(
    Type.Object({
      address: Type.String(),
      reason: Type.String({ description: 'hard_bounce, complaint, unsubscribe or manual' }),
    }),
    {
      description:
        "Recipients on the account's suppression list (for this stream or every stream): stored as suppressed and never sent to; empty when none",
    },
  ),
})

export const IdempotencyHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
})

const Reply = Type.Object({ code: Nullable(Type.Integer()), enhanced_code: Nullable(Type.String()), text: Nullable(Type.String()) })

export const EventSchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  created_at: Timestamp,
  email_id: Type.String(),
  recipient: Nullable(Type.String()),
  tags: Type.Record(Type.String(), Type.String()),
  data: Type.Record(Type.String(), Type.Unknown()),
})

export const EmailDetailSchema = Type.Object({
  id: Type.String(),
  status: EmailStatusSchema,
  source: Type.String(),
  from: Type.String(),
  to: Type.Array(Type.String()),
  cc: Type.Array(Type.String()),
  reply_to: Type.Array(Type.String()),
  subject: Type.String(),
  headers: Type.Record(Type.String(), Type.String()),
  tags: Type.Record(Type.String(), Type.String()),
  stream: Type.String(),
  message_id: Type.String(),
  size_bytes: Type.Integer(),
  scheduled_at: Nullable(Timestamp),
  expires_at: Timestamp,
  created_at: Timestamp,
  updated_at: Timestamp,
  attachments: Type.Array(
    Type.Object({ filename: Type.String(), content_type: Type.String(), content_id: Nullable(Type.String()), size: Type.Integer() }),
  ),
  recipients: Type.Array(
    Type.Object({
      address: Type.String(),
      kind: Type.String(),
      status: RecipientStatusSchema,
      reason: Nullable(Type.String()),
      attempts: Type.Integer({ description: 'Delivery attempts started for this recipient' }),
      attempts_total: Type.Integer({
        description: `Attempt records this recipient has; the attempts list shows the latest ${MAX_ATTEMPTS_SHOWN} of them`,
      }),
      next_attempt_at: Nullable(Timestamp),
      last_reply: Nullable(Reply),
      possible_duplicate: Type.Boolean(),
      bounce_category: Nullable(
        Type.String({
          description:
            'When bounced: hard (no such user or domain; the address is suppressed), soft (mailbox full, temporary), policy (refused as spam or for reputation: a sender problem), unknown',
        }),
      ),
      updated_at: Timestamp,
    }),
  ),
  attempts: Type.Array(
    Type.Object({
      recipient: Type.String(),
      number: Type.Integer(),
      started_at: Timestamp,
      finished_at: Nullable(Timestamp),
      outcome: Nullable(Type.String()),
      phase: Nullable(Type.String()),
      remote_host: Nullable(Type.String()),
      remote_ip: Nullable(Type.String()),
      smtp_code: Nullable(Type.Integer()),
      enhanced_code: Nullable(Type.String()),
      reply: Nullable(Type.String()),
      tls_version: Nullable(Type.String()),
      tls_cipher: Nullable(Type.String()),
      duration_ms: Nullable(Type.Integer()),
    }),
    { description: `The latest ${MAX_ATTEMPTS_SHOWN} attempts of each recipient, oldest first` },
  ),
  events: Type.Array(EventSchema, { description: 'The first 100 events; GET /v1/emails/{id}/events pages through them all' }),
})

export const EmailSummarySchema = Type.Object({
  id: Type.String(),
  status: EmailStatusSchema,
  source: Type.String(),
  from: Type.String(),
  to: Type.Array(Type.String()),
  subject: Type.String(),
  tags: Type.Record(Type.String(), Type.String()),
  stream: Type.String(),
  scheduled_at: Nullable(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
})

export const ListEmailsQuerySchema = Type.Object(
  {
    status: Type.Optional(EmailStatusSchema),
    recipient_status: Type.Optional(RecipientStatusSchema),
    recipient: Type.Optional(Type.String({ maxLength: 320, description: 'Envelope address of any recipient' })),
    tag: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$', description: 'name:value' })),
    created_after: Type.Optional(Type.String({ format: 'date-time' })),
    created_before: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Optional(LimitQuery),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
)

export const PageQuerySchema = Type.Object(
  { limit: Type.Optional(LimitQuery), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
)

export const page = <T extends ReturnType<typeof Type.Object>>(item: T) =>
  Type.Object({ data: Type.Array(item), next_cursor: Nullable(Type.String()) })

export const CancelResponseSchema = Type.Object({ id: Type.String(), status: EmailStatusSchema, cancelled: Type.Integer() })
