import type { FastifyInstance } from 'fastify'
import type { Container } from '../container.js'
import { buildHttpApp, type HttpDeps } from '../http/app.js'
import type { Stop } from './lifecycle.js'

/** The HTTP application wired to the container's services; not listening yet. */
export function buildApp(container: Container, options: Pick<HttpDeps, 'requestTimeoutMs'> = {}): Promise<FastifyInstance> {
  const { config, services } = container
  return buildHttpApp({
    config,
    logger: container.logger.child({ component: 'http' }),
    redis: container.requestRedis,
    dispatcher: container.dispatcher,
    apiKeys: services.apiKeys,
    accounts: services.accounts,
    emails: services.emails,
    domains: services.domains,
    destinations: services.destinations,
    events: services.events,
    webhooks: services.webhooks,
    suppressions: services.suppressions,
    unsubscribe: services.unsubscribe,
    campaigns: services.campaigns,
    templates: services.templates,
    streams: services.streams,
    stats: services.stats,
    sessions: services.sessions,
    emailSources: services.emailSources,
    emailOverview: services.emailOverview,
    checkReady: container.checkReady,
    requestMetrics: container.metrics.http,
    ...options,
  })
}

/**
 * Starts the HTTP API. The returned function stops taking requests and gives those in flight
 * SHUTDOWN_TIMEOUT to finish (idle keep-alive connections are closed at once); then it cuts the
 * connections still open. A request cut while its body was arriving was never accepted; one cut
 * while being committed may have been, which the client's Idempotency-Key covers on its retry.
 */
export async function startApi(container: Container): Promise<Stop> {
  const app = await buildApp(container)
  const address = await app.listen({ host: container.config.host, port: container.config.port })
  container.logger.info({ address }, 'HTTP API listening')
  return async () => {
    const cut = setTimeout(() => app.server.closeAllConnections(), container.config.shutdownTimeoutMs)
    try {
      await app.close()
    } finally {
      clearTimeout(cut)
    }
  }
}
