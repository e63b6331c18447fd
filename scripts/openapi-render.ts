import type { FastifyInstance } from 'fastify'
import { loadConfig } from '../src/config.js'
import { createContainer } from '../src/container.js'
import { buildApp } from '../src/entrypoints/api.js'
import type { OpenApiDocument } from '../src/http/openapi/types.js'
import { createLogger } from '../src/infra/logger.js'

/**
 * Builds the real app and hands it to `use`. Building the app needs its dependencies' objects,
 * not live services: nothing here connects to Postgres or Redis.
 */
async function withApp<T>(use: (app: FastifyInstance) => T): Promise<T> {
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
    const result = use(app)
    await app.close()
    return result
  } finally {
    await container.close()
  }
}

/** The OpenAPI document of the real app as YAML: what `npm run openapi` writes to openapi.yaml. */
export const renderOpenApi = (): Promise<string> => withApp((app) => app.swagger({ yaml: true }))

/** The same document as an object. */
export const openApiDocument = (): Promise<OpenApiDocument> => withApp((app) => app.swagger() as unknown as OpenApiDocument)
