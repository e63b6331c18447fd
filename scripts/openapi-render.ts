import { loadConfig } from '../src/config.js'
import { createContainer } from '../src/container.js'
import { buildApp } from '../src/entrypoints/api.js'
import { createLogger } from '../src/infra/logger.js'

/**
 * Renders the OpenAPI document of the real app as YAML. Building the app needs its dependencies'
 * objects, not live services: nothing here connects to Postgres or Redis.
 */
export async function renderOpenApi(): Promise<string> {
  const config = loadConfig({
    HIKYAKU_ENV: 'development',
    HIKYAKU_SECRET: 'openapi',
    HIKYAKU_VAR_DIR: '/tmp/hikyaku-openapi',
    LOG_LEVEL: 'silent',
  })
  const logger = createLogger('silent')
  const container = createContainer(config, { logger })
  try {
    const app = await buildApp(container)
    await app.ready()
    const yaml = app.swagger({ yaml: true })
    await app.close()
    return yaml
  } finally {
    await container.close()
  }
}
