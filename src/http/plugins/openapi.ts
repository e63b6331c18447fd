import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { SECURITY_SCHEMES, TAGS } from '../openapi/components.js'
import { enrichOpenApi } from '../openapi/enrich.js'

export const OPENAPI_INFO = {
  title: 'Hikyaku API',
  version: '1.0.0',
  description:
    'Self-hosted email sending. Authenticate with `Authorization: Bearer hk_…`. Errors share one envelope with a stable `code`. ' +
    'A 202 from `POST /v1/emails` means the message is committed and will reach a terminal status.',
}

/**
 * The OpenAPI document is generated from the route schemas, then completed by `enrichOpenApi`
 * (src/http/openapi: operationIds, examples, headers, error responses); `openapi.yaml` is its
 * committed copy.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      components: { securitySchemes: SECURITY_SCHEMES },
      security: [{ bearer: [] }],
      tags: TAGS,
    },
    // The documentation routes themselves are not part of the API.
    hideUntagged: true,
    // Shared schemas appear under their own names ($id) instead of def-0, def-1, …
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transformObject: (generated) =>
      enrichOpenApi('openapiObject' in generated ? generated.openapiObject : generated.swaggerObject) as never,
  })
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}
