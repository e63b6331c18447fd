import type { FastifyInstance } from 'fastify'

/** Where request timings go (src/infra/metrics.groups.ts implements it): cheap, never throws. */
export interface RequestMetrics {
  observe(route: string, method: string, statusCode: number, seconds: number): void
}

/** The route label of a request no route matched (a 404): never the URL asked for, which is unbounded. */
export const UNMATCHED_ROUTE = 'unmatched'

/**
 * Times every response by route pattern (`/v1/emails/:id`, never the URL itself), method and
 * status class: the accept latency of POST /v1/emails and /v1/emails/batch among the rest.
 * Registered on the root instance before any route, so it covers every one.
 */
export function registerRequestMetrics(app: FastifyInstance, metrics: RequestMetrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observe(request.routeOptions.url ?? UNMATCHED_ROUTE, request.method, reply.statusCode, reply.elapsedTime / 1000)
    done()
  })
}
