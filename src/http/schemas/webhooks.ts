import { Type } from 'typebox'
import { EVENT_TYPES } from '../../modules/events/event.types.js'
import { Cursor, LimitQuery, Nullable, Timestamp } from './common.js'

const Filters = {
  event_types: Type.Optional(
    Type.Array(Type.String({ maxLength: 64 }), {
      maxItems: 50,
      description: `Event types to send (${EVENT_TYPES.join(', ')}); all when empty`,
    }),
  ),
  streams: Type.Optional(
    Type.Array(Type.String({ maxLength: 64 }), { maxItems: 50, description: 'Only emails of these streams; all when empty' }),
  ),
  domains: Type.Optional(
    Type.Array(Type.String({ maxLength: 253 }), {
      maxItems: 50,
      description: "Only emails from these sending domains (the From address's); all when empty",
    }),
  ),
  tags: Type.Optional(
    Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 256 }), { description: 'Only emails carrying all of these tags' }),
  ),
}

const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'http(s) URL that receives POSTs (use https outside closed networks); private and loopback addresses are refused',
})

export const CreateWebhookBodySchema = Type.Object(
  { url: Url, description: Type.Optional(Nullable(Type.String({ maxLength: 500 }))), ...Filters },
  { additionalProperties: false },
)

export const UpdateWebhookBodySchema = Type.Object(
  {
    url: Type.Optional(Url),
    description: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    enabled: Type.Optional(Type.Boolean({ description: 'false pauses the endpoint; true resumes it (and clears a disable)' })),
    ...Filters,
  },
  { additionalProperties: false },
)

export const WebhookSchema = Type.Object({
  id: Type.String(),
  url: Type.String(),
  description: Nullable(Type.String()),
  event_types: Type.Array(Type.String()),
  streams: Type.Array(Type.String()),
  domains: Type.Array(Type.String()),
  tags: Type.Record(Type.String(), Type.String()),
  enabled: Type.Boolean(),
  disabled_reason: Nullable(
    Type.String({ description: 'Why the endpoint was disabled (after failing for WEBHOOK_DISABLE_AFTER, or by the account)' }),
  ),
  failing_since: Nullable(Timestamp),
  previous_secret_expires_at: Nullable(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
})

export const WebhookWithSecretSchema = Type.Object({
  ...WebhookSchema.properties,
  secret: Type.String({ description: 'The signing secret (whsec_…), shown this once: verify requests with it (Standard Webhooks)' }),
})

export const WebhookPageSchema = Type.Object({ data: Type.Array(WebhookSchema), next_cursor: Nullable(Type.String()) })

export const PageQuerySchema = Type.Object(
  { limit: Type.Optional(LimitQuery), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
)

export const RotateBodySchema = Type.Object(
  {
    overlap_seconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, description: 'How long the old secret still signs (default 86400)' }),
    ),
  },
  { additionalProperties: false },
)

export const AttemptSchema = Type.Object({
  id: Type.String(),
  event_id: Type.String(),
  attempt: Type.Integer(),
  started_at: Timestamp,
  duration_ms: Type.Integer(),
  status_code: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  response_body: Nullable(Type.String({ description: 'The first bytes of the answer' })),
})

export const AttemptPageSchema = Type.Object({ data: Type.Array(AttemptSchema), next_cursor: Nullable(Type.String()) })

export const ReplayBodySchema = Type.Object(
  {
    event_id: Type.Optional(Type.String({ format: 'uuid' })),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
)

export const ReplayedSchema = Type.Object({ queued: Type.Integer({ description: 'Events queued for this endpoint again' }) })

export const DeletedWebhookSchema = Type.Object({ id: Type.String(), deleted: Type.Literal(true) })
