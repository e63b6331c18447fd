import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { validationFailed } from '../../lib/errors.js'
import { isUuid } from '../../lib/uuid.js'
import type { FeedPosition } from '../../modules/events/event.repository.js'
import type { EventService } from '../../modules/events/event.service.js'
import { EVENT_TYPES } from '../../modules/events/event.types.js'
import { presentEvent } from '../presenters.js'
import { errors } from '../schemas/common.js'
import { FeedQuerySchema, FeedSchema } from '../schemas/events.js'

// A feed cursor names a (transaction, event) position; it is opaque so that its form can change.
const encodeFeedCursor = (p: FeedPosition): string => Buffer.from(`f1:${p.txid}:${p.id}`).toString('base64url')

function decodeFeedCursor(cursor: string): FeedPosition {
  const [tag, txid, id, ...rest] = Buffer.from(cursor, 'base64url').toString().split(':')
  const tooBig = !!txid && /^[0-9]{1,20}$/.test(txid) && BigInt(txid) > 0xffffffffffffffffn
  if (tag !== 'f1' || rest.length > 0 || !txid || !/^[0-9]{1,20}$/.test(txid) || tooBig || !id || !isUuid(id)) {
    throw validationFailed([{ path: '/query/after', message: 'is not a cursor this feed returned' }])
  }
  return { txid, id }
}

function parseTypes(types: string | undefined): string[] | undefined {
  if (types === undefined || types.trim() === '') return undefined
  const list = [...new Set(types.split(',').map((t) => t.trim()))]
  const known = new Set<string>(EVENT_TYPES)
  const unknown = list.filter((t) => !known.has(t))
  if (unknown.length > 0) {
    throw validationFailed([
      { path: '/query/types', message: `unknown event types: ${unknown.join(', ')}; known: ${EVENT_TYPES.join(', ')}` },
    ])
  }
  return list
}

/** The account's events, in one order that never changes (full-scope keys). */
export const eventRoutes: FastifyPluginAsyncTypebox<{ events: EventService }> = async (app, { events }) => {
  app.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: "The account's events feed, resumable from a cursor",
        description:
          'Poll with the last next_cursor as `after`: every event is returned exactly once, in a stable order, ' +
          'also while many sends commit at the same time. An event appears once every transaction that started before ' +
          'it has ended (usually milliseconds).',
        querystring: FeedQuerySchema,
        response: { 200: FeedSchema, ...errors(401, 403, 422, 429, 503) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 100
      const after = request.query.after === undefined ? undefined : decodeFeedCursor(request.query.after)
      const page = await events.feed(request.principal.accountId, { after, types: parseTypes(request.query.types), limit })
      return {
        data: page.events.map(presentEvent),
        next_cursor: page.next ? encodeFeedCursor(page.next) : null,
        has_more: page.events.length === limit,
      }
    },
  )
}
