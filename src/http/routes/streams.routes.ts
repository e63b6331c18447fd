import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { StreamService } from '../../modules/streams/stream.service.js'
import { iso } from '../presenters.js'
import { errors, Nullable, Timestamp } from '../schemas/common.js'

export interface StreamRoutesOptions {
  streams: StreamService
}

const StreamSchema = Type.Object({
  name: Type.String(),
  kind: Type.Enum(['transactional', 'broadcast'] as const),
  paused: Type.Boolean(),
  paused_reason: Nullable(Type.String({ description: 'Why: the complaint-rate guard says what it measured' })),
  paused_at: Nullable(Timestamp),
})

export const streamRoutes: FastifyPluginAsyncTypebox<StreamRoutesOptions> = async (app, { streams }) => {
  app.get(
    '/streams',
    {
      schema: {
        tags: ['streams'],
        summary: "The streams, and whether this account's are paused",
        response: { 200: Type.Object({ data: Type.Array(StreamSchema) }), ...errors(401, 403, 429) },
      },
    },
    async (request) => ({
      data: (await streams.list(request.principal.accountId)).map((s) => ({
        name: s.name,
        kind: s.kind,
        paused: s.paused,
        paused_reason: s.pausedReason,
        paused_at: iso(s.pausedAt),
      })),
    }),
  )

  app.post(
    '/streams/:name/resume',
    {
      schema: {
        tags: ['streams'],
        summary: 'Resume a paused stream (once the cause of the complaints is fixed)',
        params: Type.Object({ name: Type.String({ maxLength: 32 }) }),
        response: { 204: Type.Null(), ...errors(401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      await streams.resume(request.principal.accountId, request.params.name)
      return reply.status(204).send(null)
    },
  )
}
