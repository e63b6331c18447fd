import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { type DomainService, MAX_DOMAINS_PER_ACCOUNT } from '../../modules/domains/domain.service.js'
import { cursorId, nextCursor, presentDomain } from '../presenters.js'
import { errors, IdParamsSchema } from '../schemas/common.js'
import {
  CreateDomainBodySchema,
  DeletedDomainSchema,
  DomainPageSchema,
  DomainSchema,
  ListDomainsQuerySchema,
  SendingHostSchema,
  VerifiedDomainSchema,
} from '../schemas/domains.js'

/** Sending domains (full-scope keys: no route here opts into the `send` scope). */
export const domainRoutes: FastifyPluginAsyncTypebox<{ domains: DomainService }> = async (app, { domains }) => {
  app.post(
    '/domains',
    {
      schema: {
        tags: ['domains'],
        summary: 'Add a sending domain',
        description: `Generates its DKIM key and answers with the DNS records to publish; then call verify. An account has at most ${MAX_DOMAINS_PER_ACCOUNT} sending domains (409 beyond).`,
        body: CreateDomainBodySchema,
        response: { 201: DomainSchema, ...errors(401, 403, 409, 422, 429) },
      },
    },
    async (request, reply) => reply.status(201).send(presentDomain(await domains.create(request.principal.accountId, request.body.name))),
  )

  app.get(
    '/domains',
    {
      schema: {
        tags: ['domains'],
        summary: 'List sending domains, newest first',
        querystring: ListDomainsQuerySchema,
        response: { 200: DomainPageSchema, ...errors(401, 403, 422, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20
      const items = await domains.list(request.principal.accountId, { limit, before: cursorId(request.query.cursor) })
      return { data: items.map(presentDomain), next_cursor: nextCursor(items, limit) }
    },
  )

  app.get(
    '/domains/:id',
    {
      schema: {
        tags: ['domains'],
        summary: 'A sending domain with its DNS records and their last verdicts',
        params: IdParamsSchema,
        response: { 200: DomainSchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (request) => presentDomain(await domains.get(request.principal.accountId, request.params.id)),
  )

  app.post(
    '/domains/:id/verify',
    {
      schema: {
        tags: ['domains'],
        summary: "Look the domain's DNS records up and store a verdict for each",
        description:
          'The domain is verified once its SPF and DKIM records are found; DMARC and the return path are advisory. `warnings` lists what is worth fixing anyway (no DMARC record, the sending host’s reverse DNS, checked as by GET /v1/sending-host).',
        params: IdParamsSchema,
        response: { 200: VerifiedDomainSchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (request) => {
      const verified = await domains.verify(request.principal.accountId, request.params.id)
      return {
        ...presentDomain(verified),
        warnings: verified.warnings,
        ...(verified.sendingHost ? { sending_host: verified.sendingHost } : {}),
      }
    },
  )

  app.get(
    '/sending-host',
    {
      schema: {
        tags: ['domains'],
        summary: 'Self-check of the sending host: forward-confirmed reverse DNS of HELO_NAME and the sending address',
        description:
          'Gmail and Microsoft defer or refuse mail from an address without a PTR record whose name resolves back to it. Advice only; looked up at most once a minute.',
        response: { 200: SendingHostSchema, ...errors(401, 403, 429) },
      },
    },
    async () => await domains.sendingHost(),
  )

  app.delete(
    '/domains/:id',
    {
      schema: {
        tags: ['domains'],
        summary: 'Delete a sending domain and its DKIM keys',
        params: IdParamsSchema,
        response: { 200: DeletedDomainSchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (request) => {
      await domains.remove(request.principal.accountId, request.params.id)
      return { id: request.params.id, deleted: true as const }
    },
  )
}
