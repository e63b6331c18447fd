import type { FastifyInstance } from 'fastify'
import { AppError } from '../../lib/errors.js'
import type { ApiKeyService } from '../../modules/api-keys/api-key.service.js'
import type { Principal } from '../../modules/api-keys/api-key.types.js'

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal
  }
  interface FastifyContextConfig {
    /** `send` lets send-scoped keys call the route; everything else needs a full-scope key. */
    scope?: 'send'
  }
}

/**
 * Authenticates every request of the scope it is registered in, before anything else runs,
 * and enforces the route's scope. Routes never read the Authorization header themselves.
 */
export function registerAuth(app: FastifyInstance, apiKeys: Pick<ApiKeyService, 'authenticate'>): void {
  app.decorateRequest('principal', null as unknown as Principal)
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization
    let token: string | undefined
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
      if (!match) throw new AppError('unauthorized', 'Malformed Authorization header: expected "Bearer hk_…"')
      token = match[1]
    }
    request.principal = await apiKeys.authenticate(token)
    if (request.principal.scope !== 'full' && request.routeOptions.config.scope !== 'send') {
      throw new AppError('forbidden', 'This API key may only send email; this endpoint needs a full-access key.')
    }
  })
}
