import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { MAX_REPLAY, type WebhookService } from '../../modules/webhooks/webhook.service.js'
import type { WebhookAttemptView, WebhookEndpointView } from '../../modules/webhooks/webhook.types.js'
import { cursorId, iso, nextCursor } from '../presenters.js'
import { errors, IdParamsSchema } from '../schemas/common.js'
import {
  AttemptPageSchema,
  CreateWebhookBodySchema,
  DeletedWebhookSchema,
  PageQuerySchema,
  ReplayBodySchema,
  ReplayedSchema,
  RotateBodySchema,
  UpdateWebhookBodySchema,
  WebhookPageSchema,
  WebhookSchema,
  WebhookWithSecretSchema,
} from '../schemas/webhooks.js'

const present = (e: WebhookEndpointView) => ({
  id: e.id,
  url: e.url,
  description: e.description,
  event_types: e.eventTypes,
  streams: e.streams,
  domains: e.domains,
  tags: e.tags,
  enabled: e.enabled,
  disabled_reason: e.disabledReason,
  failing_since: iso(e.failingSince),
  previous_secret_expires_at: iso(e.previousSecretExpiresAt),
  created_at: e.createdAt.toISOString(),
  updated_at: e.updatedAt.toISOString(),
})

const presentAttempt = (a: WebhookAttemptView) => ({
  id: a.id,
  event_id: a.eventId,
  attempt: a.number,
  started_at: a.startedAt.toISOString(),
  duration_ms: a.durationMs,
  status_code: a.statusCode,
  error: a.error,
  response_body: a.responseBody,
})

const filtersOf = (b: { event_types?: string[]; streams?: string[]; domains?: string[]; tags?: Record<string, string> }) => ({
  eventTypes: b.event_types,
  streams: b.streams,
  domains: b.domains,
  tags: b.tags,
})

/** Webhook endpoints (full-scope keys). */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookService }> = async (app, { webhooks }) => {
  app.post(
    '/webhooks',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Add a webhook endpoint',
        description:
          'Events are POSTed as {type, timestamp, data} with Standard Webhooks headers, retried for about 40 hours. The secret is shown only in this answer.',
        body: CreateWebhookBodySchema,
        response: { 201: WebhookWithSecretSchema, ...errors(401, 403, 422, 429) },
      },
    },
    async (request, reply) => {
      const b = request.body
      const { endpoint, secret } = await webhooks.create(request.principal.accountId, {
        url: b.url,
        description: b.description,
        ...filtersOf(b),
      })
      return reply.status(201).send({ ...present(endpoint), secret })
    },
  )

  app.get(
    '/webhooks',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'List webhook endpoints, newest first',
        querystring: PageQuerySchema,
        response: { 200: WebhookPageSchema, ...errors(401, 403, 422, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20
      const items = await webhooks.list(request.principal.accountId, limit, cursorId(request.query.cursor))
      return { data: items.map(present), next_cursor: nextCursor(items, limit) }
    },
  )

  app.get(
    '/webhooks/:id',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Get a webhook endpoint',
        params: IdParamsSchema,
        response: { 200: WebhookSchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (request) => present(await webhooks.get(request.principal.accountId, request.params.id)),
  )

  app.patch(
    '/webhooks/:id',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Change a webhook endpoint (url, filters), pause it or resume it',
        params: IdParamsSchema,
        body: UpdateWebhookBodySchema,
        response: { 200: WebhookSchema, ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request) => {
      const b = request.body
      return present(
        await webhooks.update(request.principal.accountId, request.params.id, {
          url: b.url,
          description: b.description,
          enabled: b.enabled,
          ...filtersOf(b),
        }),
      )
    },
  )

  app.delete(
    '/webhooks/:id',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Delete a webhook endpoint',
        params: IdParamsSchema,
        response: { 200: DeletedWebhookSchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (request) => {
      await webhooks.remove(request.principal.accountId, request.params.id)
      return { id: request.params.id, deleted: true as const }
    },
  )

  app.post(
    '/webhooks/:id/rotate-secret',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Replace the signing secret; the old one keeps signing during the overlap',
        params: IdParamsSchema,
        body: RotateBodySchema,
        response: { 200: WebhookWithSecretSchema, ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request) => {
      const overlap = request.body?.overlap_seconds
      const { endpoint, secret } = await webhooks.rotateSecret(
        request.principal.accountId,
        request.params.id,
        overlap === undefined ? undefined : overlap * 1000,
      )
      return { ...present(endpoint), secret }
    },
  )

  app.get(
    '/webhooks/:id/attempts',
    {
      schema: {
        tags: ['webhooks'],
        summary: "The endpoint's request log, newest first: status, latency and the answer's first bytes",
        params: IdParamsSchema,
        querystring: PageQuerySchema,
        response: { 200: AttemptPageSchema, ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20
      const items = await webhooks.attempts(request.principal.accountId, request.params.id, limit, cursorId(request.query.cursor))
      return { data: items.map(presentAttempt), next_cursor: nextCursor(items, limit) }
    },
  )

  app.post(
    '/webhooks/:id/replay',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Send one event, or the events of a time range, to this endpoint again',
        description: `With event_id, that event; with from (and to), the account's events created in [from, to), at most ${MAX_REPLAY} per call. Replays keep the webhook-id (the event id).`,
        params: IdParamsSchema,
        body: ReplayBodySchema,
        response: { 202: ReplayedSchema, ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request, reply) => {
      const b = request.body
      const queued = await webhooks.replay(request.principal.accountId, request.params.id, {
        eventId: b.event_id,
        from: b.from ? new Date(b.from) : undefined,
        to: b.to ? new Date(b.to) : undefined,
      })
      return reply.status(202).send({ queued })
    },
  )
}
