import type { Container } from '../container.js'
import { buildHttpApp } from '../http/app.js'
import type { Stop } from './lifecycle.js'

/** Starts the HTTP API; the returned function stops taking requests and waits for those in flight. */
export async function startApi(container: Container): Promise<Stop> {
  const { config, services } = container
  const app = await buildHttpApp({
    config,
    logger: container.logger.child({ component: 'http' }),
    redis: container.redis,
    dispatcher: container.dispatcher,
    apiKeys: services.apiKeys,
    emails: services.emails,
    checkReady: container.checkReady,
  })
  const address = await app.listen({ host: config.host, port: config.port })
  container.logger.info({ address }, 'HTTP API listening')
  return () => app.close()
}
