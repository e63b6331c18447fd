import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

export interface HealthOptions {
  /** Resolves when Postgres and Redis answer; rejects with what is down. */
  checkReady: () => Promise<Record<string, 'ok' | 'down'>>
}

const Health = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) })

export const healthRoutes: FastifyPluginAsyncTypebox<HealthOptions> = async (app, { checkReady }) => {
  app.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'The process is alive', security: [], response: { 200: Health } } },
    async () => ({
      status: 'ok',
    }),
  )

  app.get(
    '/readyz',
    { schema: { tags: ['operations'], summary: 'Postgres and Redis are reachable', security: [], response: { 200: Health, 503: Health } } },
    async (_request, reply) => {
      const checks = await checkReady()
      const ready = Object.values(checks).every((state) => state === 'ok')
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks })
    },
  )
}
