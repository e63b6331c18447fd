import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { renderOpenApi } from '../../scripts/openapi-render.js'
import { diffMigrationsToSchema, parseDatabaseUrl } from '../../scripts/schema-engine.js'
import { createTestDatabase } from '../helpers/env.js'

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url))

describe('contracts kept in files', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  before(async () => {
    db = await createTestDatabase()
  })
  after(async () => {
    await db.drop()
  })

  it('openapi.yaml matches the route schemas (run `npm run openapi` after changing a route)', async () => {
    const committed = readFileSync(root('openapi.yaml'), 'utf8')
    assert.equal(await renderOpenApi(), committed)
  })

  it('prisma/migrations produce exactly prisma/schema.prisma (author changes with `npm run db:diff -- NAME`)', async () => {
    const { inSync, sql } = await diffMigrationsToSchema({
      migrationsDir: root('prisma/migrations'),
      schemaPath: root('prisma/schema.prisma'),
      db: parseDatabaseUrl(db.url),
    })
    assert.ok(inSync, `schema.prisma has changes no migration contains:\n${sql}`)
  })
})
