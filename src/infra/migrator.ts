import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import type { Logger } from './logger.js'

/**
 * Applies prisma/migrations with plain pg while keeping `_prisma_migrations` exactly as Prisma's
 * schema engine does, so `prisma migrate deploy` (where it can run) agrees with what we did.
 */
const PRISMA_LOCK_ID = 72707369

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`

export interface MigrationResult {
  applied: string[]
}

export async function migrate(databaseUrl: string, migrationsDir: string, logger?: Logger): Promise<MigrationResult> {
  // A server that accepts the connection but never answers must not hang a deploy: connecting is
  // bounded. Statements are not (a migration may take long, and waits on the migration lock).
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, keepAlive: true })
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_LOCK_ID])
    await client.query(CREATE_TABLE)
    const { rows } = await client.query<{ migration_name: string; finished_at: Date | null }>(
      'SELECT migration_name, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    )
    const failed = rows.find((row) => row.finished_at === null)
    if (failed) {
      throw new Error(
        `migration ${failed.migration_name} failed earlier and was not rolled back; fix the database, then mark it rolled back (P3009)`,
      )
    }
    const done = new Set(rows.map((row) => row.migration_name))
    const pending = (await listMigrations(migrationsDir)).filter((name) => !done.has(name))
    for (const name of pending) {
      await applyOne(client, migrationsDir, name)
      logger?.info({ migration: name }, 'migration applied')
    }
    return { applied: pending }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_LOCK_ID]).catch(() => {})
    await client.end()
  }
}

async function listMigrations(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
}

async function applyOne(client: pg.Client, dir: string, name: string): Promise<void> {
  const bytes = await readFile(join(dir, name, 'migration.sql'))
  const id = randomUUID()
  await client.query('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())', [
    id,
    createHash('sha256').update(bytes).digest('hex'),
    name,
  ])
  try {
    // One query without parameters uses the simple protocol: the whole file is one implicit
    // transaction, so a failure leaves nothing half-applied.
    await client.query(bytes.toString('utf8'))
  } catch (err) {
    await client.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, String((err as Error).message)])
    throw new Error(`migration ${name} failed: ${(err as Error).message}`, { cause: err })
  }
  await client.query('UPDATE "_prisma_migrations" SET applied_steps_count = applied_steps_count + 1, finished_at = now() WHERE id = $1', [
    id,
  ])
}
