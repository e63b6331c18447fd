import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { type Config, loadConfig } from '../../src/config.js'

/** The migrated template every test file clones (see scripts/prepare-test-db.ts). */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://hikyaku:hikyaku@127.0.0.1:5432/hikyaku_test'
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15'

const withDatabase = (url: string, database: string) => {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

const templateName = () => new URL(TEST_DATABASE_URL).pathname.slice(1)

/**
 * A private database for one test file, cloned from the migrated template: files run in
 * parallel without seeing each other's rows.
 */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `hikyaku_t_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: withDatabase(TEST_DATABASE_URL, 'postgres') })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${templateName()}"`)
  } finally {
    await admin.end()
  }
  return {
    url: withDatabase(TEST_DATABASE_URL, name),
    async drop() {
      const client = new pg.Client({ connectionString: withDatabase(TEST_DATABASE_URL, 'postgres') })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      } finally {
        await client.end()
      }
    },
  }
}

/** A Config for tests: compressed retry schedule, quiet logs, unique Redis prefix, private var dir. */
export function testConfig(env: Record<string, string>): Config & { cleanup(): void } {
  const varDir = mkdtempSync(join(tmpdir(), 'hikyaku-test-'))
  const config = loadConfig({
    HIKYAKU_ENV: 'development',
    HIKYAKU_VAR_DIR: varDir,
    REDIS_URL: TEST_REDIS_URL,
    BULLMQ_PREFIX: `hkt${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    RETRY_SCHEDULE: '200ms',
    MAX_DELIVERY_AGE: '1h',
    SWEEP_INTERVAL: '500ms',
    DELIVERY_LEASE: '1m',
    SMTP_TIMEOUT: '5s',
    DB_POOL_SIZE: '6',
    HELO_NAME: 'hikyaku.test',
    SMTP_PORT: '0',
    SMTPS_PORT: '0',
    METRICS_PORT: '0',
    ...env,
  })
  return { ...config, cleanup: () => rmSync(varDir, { recursive: true, force: true }) }
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`)
}
