import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

export const OPENAPI_INFO = {
  title: 'Hikyaku API',
  version: '1.0.0',
  description:
    'Self-hosted email sending. Authenticate with `Authorization: Bearer hk_…`. Errors share one envelope with a stable `code`. ' +
    'A 202 from `POST /v1/emails` means the message is committed and will reach a terminal status.',
}

/** The OpenAPI document is generated from the route schemas; `openapi.yaml` is its committed copy. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'hk_<id>_<secret>' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'emails', description: 'Send and track email' },
        { name: 'api-keys', description: 'Manage API keys (full-access keys only)' },
        { name: 'account', description: "The account's settings: the footer of its broadcast mail (full-access keys only)" },
        { name: 'domains', description: 'Sending domains: DKIM keys, DNS records and verification (full-access keys only)' },
        {
          name: 'events',
          description: "The account's events feed: every delivery outcome, resumable from a cursor (full-access keys only)",
        },
        {
          name: 'suppressions',
          description:
            'Addresses mail is not sent to: hard bounces, complaints, unsubscribes, and entries added by hand (full-access keys only)',
        },
        {
          name: 'webhooks',
          description: 'Webhook endpoints: signed POSTs of every event, retried, logged and replayable (full-access keys only)',
        },
        {
          name: 'destinations',
          description: "What the mailbox providers' replies did: pauses, the rule that fired, mail held back (full-access keys only)",
        },
        { name: 'operations', description: 'Health and readiness' },
      ],
    },
    // The documentation routes themselves are not part of the API.
    hideUntagged: true,
    // Shared schemas appear under their own names ($id) instead of def-0, def-1, …
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}
