import { Type } from 'typebox'
import { Nullable, Timestamp } from './common.js'

export const CreateCampaignSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    rate_per_hour: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'Spread the sends: at most this many start per hour' }),
    ),
    scheduled_at: Type.Optional(
      Type.String({ format: 'date-time', description: 'Sends start no earlier than this (at most 30 days ahead)' }),
    ),
  },
  { additionalProperties: false },
)

export const CampaignSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  status: Type.Enum(['active', 'paused', 'cancelled'] as const),
  rate_per_hour: Nullable(Type.Integer()),
  scheduled_at: Nullable(Timestamp),
  paused_reason: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
})

export const CampaignDetailSchema = Type.Object({
  ...CampaignSchema.properties,
  counts: Type.Object({
    recipients: Type.Record(Type.String(), Type.Integer(), { description: 'Recipients per status' }),
    complained: Type.Integer(),
    unsubscribed: Type.Integer(),
  }),
  rates: Type.Object({
    delivery_rate: Nullable(Type.Number()),
    bounce_rate: Nullable(Type.Number()),
    complaint_rate: Nullable(Type.Number()),
    unsubscribe_rate: Nullable(Type.Number()),
  }),
})

export const CampaignActionSchema = Type.Object({
  campaign: CampaignSchema,
  held: Type.Optional(Type.Integer({ description: 'Recipients held by the pause' })),
  resumed: Type.Optional(Type.Integer({ description: 'Deliveries dispatched again' })),
  cancelled: Type.Optional(Type.Integer({ description: 'Recipients cancelled' })),
})
