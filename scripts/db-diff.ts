// `npm run db:diff -- <name>`: writes the SQL that takes the migration history to schema.prisma as
// prisma/migrations/<UTC timestamp>_<name>/migration.sql, the layout `prisma migrate` uses.
// Offline replacement for `prisma migrate dev --create-only`; see scripts/schema-engine.ts.
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { diffMigrationsToSchema, MIGRATION_LOCK, parseDatabaseUrl } from './schema-engine.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const migrationsDir = join(root, 'prisma', 'migrations')
const schemaPath = join(root, 'prisma', 'schema.prisma')

function say(line: string): void {
  process.stdout.write(`${line}\n`)
}

async function main(): Promise<number> {
  // Prisma's own rule for migration names: lower case, anything else becomes `_`.
  const name = (process.argv[2] ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '')
  // The diff only uses this server to create (and drop) a scratch shadow database.
  const url = process.env.DATABASE_URL ?? 'postgresql://hikyaku:hikyaku@127.0.0.1:5432/hikyaku'
  const started = Date.now()
  const { inSync, sql } = await diffMigrationsToSchema({ migrationsDir, schemaPath, db: parseDatabaseUrl(url) })
  if (inSync) {
    say(`prisma/migrations is in sync with prisma/schema.prisma; nothing written (${Date.now() - started} ms).`)
    return 0
  }
  if (!name) {
    process.stderr.write('schema.prisma has changes; name the migration: npm run db:diff -- <name>\n')
    return 1
  }
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14) // UTC yyyymmddHHMMSS
  const dir = join(migrationsDir, `${stamp}_${name}`)
  await mkdir(migrationsDir, { recursive: true })
  await mkdir(dir) // fails rather than overwrite an existing migration
  await writeFile(join(dir, 'migration.sql'), sql.endsWith('\n') ? sql : `${sql}\n`)
  say(`wrote prisma/migrations/${stamp}_${name}/migration.sql (${Date.now() - started} ms):\n`)
  say(sql.trimEnd())
  const lockPath = join(migrationsDir, 'migration_lock.toml')
  if (!existsSync(lockPath)) {
    await writeFile(lockPath, MIGRATION_LOCK)
    say('\nwrote prisma/migrations/migration_lock.toml')
  }
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    process.stderr.write(`db:diff failed: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exitCode = 1
  },
)
