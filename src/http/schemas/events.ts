import { Type } from 'typebox'
import { EVENT_TYPES } from '../../modules/events/event.types.js'
import { EventSchema } from './emails.js'

export const FEED_MAX_LIMIT = 500

export const FeedQuerySchema = Type.Object({
  after: Type.Optional(
    Type.String({ maxLength: 200, description: 'next_cursor of the previous poll; without it the feed starts at the oldest event kept' }),
  ),
  types: Type.Optional(
    Type.String({
      maxLength: 1000,
      description: `Comma-separated event types to return (${EVENT_TYPES.join(', ')}); all types without it`,
    }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: FEED_MAX_LIMIT, default: 100 })),
})

export const FeedSchema = Type.Object({
  data: Type.Array(EventSchema),
  next_cursor: Type.Union([Type.String(), Type.Null()], {
    description: 'Pass as `after` on the next poll (null only before the first event). Opaque; it never goes backwards.',
  }),
  has_more: Type.Boolean({ description: 'The page is full: poll again at once rather than after your interval' }),
})
