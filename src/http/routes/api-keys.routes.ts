import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ApiKeyService } from '../../modules/api-keys/api-key.service.js'
import { cursorId, nextCursor, presentApiKey } from '../presenters.js'
import {
  API_KEYS_PAGE_DEFAULT,
  ApiKeyPageSchema,
  ApiKeySchema,
  CreateApiKeyBodySchema,
  CreatedApiKeySchema,
  ListApiKeysQuerySchema,
} from '../schemas/api-keys.js'
import { errors, IdParamsSchema } from '../schemas/common.js'

export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ apiKeys: ApiKeyService }> = async (app, { apiKeys }) => {
  app.get(
    '/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: "List the account's API keys (never their secrets), newest first",
        description: `Revoked keys included. Pages hold ${API_KEYS_PAGE_DEFAULT} keys unless limit says otherwise.`,
        querystring: ListApiKeysQuerySchema,
        response: { 200: ApiKeyPageSchema, ...errors(401, 403, 422, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? API_KEYS_PAGE_DEFAULT
      const keys = await apiKeys.list(request.principal.accountId, { limit, before: cursorId(request.query.cursor) })
      return { data: keys.map(presentApiKey), next_cursor: nextCursor(keys, limit) }
    },
  )

  app.post(
    '/api-keys',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key; the secret is in this response only',
        body: CreateApiKeyBodySchema,
        response: { 201: CreatedApiKeySchema, ...errors(401, 403, 422, 429) },
      },
    },
    async (request, reply) => {
      const created = await apiKeys.create({
        accountId: request.principal.accountId,
        scope: request.body.scope ?? 'send',
        name: request.body.name,
      })
      return reply.status(201).send({ key: created.key, api_key: presentApiKey(created.apiKey) })
    },
  )

  app.delete(
    '/api-keys/:id',
    {
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke an API key, effective immediately',
        params: IdParamsSchema,
        response: { 200: ApiKeySchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (request) => presentApiKey(await apiKeys.revoke(request.principal.accountId, request.params.id)),
  )
}
