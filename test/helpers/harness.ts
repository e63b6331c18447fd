import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { type Container, createContainer } from '../../src/container.js'
import { buildApp } from '../../src/entrypoints/api.js'
import { startSmtp } from '../../src/entrypoints/smtp.js'
import { startWorker } from '../../src/entrypoints/worker.js'
import { createLogger } from '../../src/infra/logger.js'
import { createTestDatabase, testConfig, waitFor } from './env.js'

export interface HarnessOptions {
  /** Environment overrides (SMTP_RELAY_URL, RETRY_SCHEDULE, …). */
  env?: Record<string, string>
  /** Start the delivery worker and the sweeper in this process (default true). */
  worker?: boolean
  /** Start the SMTP submission listeners on free loopback ports (default false). */
  smtp?: boolean
  /** Use this (already migrated) database instead of a clone of the test template. */
  databaseUrl?: string
}

/**
 * The whole Hikyaku stack in-process, on a private database and Redis prefix: the real HTTP app
 * (driven with inject), real BullMQ workers, the real sweeper, talking SMTP to a loopback sink.
 */
export async function startHarness(options: HarnessOptions = {}) {
  const db = options.databaseUrl ? { url: options.databaseUrl, drop: async () => {} } : await createTestDatabase()
  const config = testConfig({ DATABASE_URL: db.url, SMTP_RELAY_URL: 'smtp://127.0.0.1:9', ...options.env })
  const logger = createLogger(config.logLevel)
  const container: Container = createContainer(config, { logger })
  const app: FastifyInstance = await buildApp(container)
  await app.ready()
  const stopWorker = options.worker !== false ? await startWorker(container) : undefined
  const smtp = options.smtp ? await startSmtp(container) : undefined

  const { key, account } = await container.services.accounts.create('Test account')
  const auth = { authorization: `Bearer ${key}` }

  const harness = {
    config,
    container,
    app,
    key,
    accountId: account.id,
    auth,
    smtp,
    /** Any request through the real app (this harness's key unless `headers` say otherwise), parsed. */
    async request(
      method: 'GET' | 'POST' | 'DELETE' | 'PATCH',
      url: string,
      options: { payload?: object | string; headers?: Record<string, string> } = {},
    ) {
      const res = await app.inject({
        method,
        url,
        headers: options.headers ?? auth,
        ...(options.payload ? { payload: options.payload } : {}),
      })
      // biome-ignore lint/suspicious/noExplicitAny: tests read the JSON they asserted the shape of
      return { status: res.statusCode, body: (res.body ? res.json() : undefined) as any, headers: res.headers }
    },
    /** POST /v1/emails with this harness's key; returns the parsed response. */
    async send(body: Record<string, unknown>, headers: Record<string, string> = {}) {
      return harness.request('POST', '/v1/emails', { payload: body, headers: { ...auth, ...headers } })
    },
    async getEmail(id: string) {
      return (await harness.request('GET', `/v1/emails/${id}`)).body
    },
    /** Waits until the email's status satisfies `done`, and returns it. */
    async waitForEmail(id: string, done: (email: { status: string; [k: string]: unknown }) => boolean, timeoutMs = 15_000) {
      return waitFor(
        `email ${id}`,
        async () => {
          const email = await harness.getEmail(id)
          return done(email) ? email : undefined
        },
        timeoutMs,
      )
    },
    async close() {
      await smtp?.close()
      await stopWorker?.()
      await app.close()
      await container.close()
      // After close: nothing of this harness can write to Redis any more.
      const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
      redis.on('error', () => {})
      await deleteKeys(redis, `${config.bullmqPrefix}:*`).catch(() => {})
      redis.disconnect()
      await db.drop()
      config.cleanup()
    },
  }
  return harness
}

export type Harness = Awaited<ReturnType<typeof startHarness>>

/** The environment of a worker process sharing the harness's database and Redis prefix. */
export const workerEnv = (h: Harness, extra: Record<string, string> = {}): Record<string, string> => ({
  HIKYAKU_ENV: 'development',
  HIKYAKU_VAR_DIR: h.config.varDir,
  DATABASE_URL: h.config.databaseUrl,
  REDIS_URL: h.config.redisUrl,
  BULLMQ_PREFIX: h.config.bullmqPrefix,
  LOG_LEVEL: 'warn',
  // Any free port: processes of tests running side by side never contend for the default ones.
  METRICS_PORT: '0',
  ...extra,
})

/** An email as `GET /v1/emails/{id}` shows it (the fields the reliability tests read). */
export type EmailView = {
  status: string
  recipients: Array<{ address: string; status: string; reason: string | null; possible_duplicate: boolean }>
  attempts: Array<{
    recipient: string
    number: number
    outcome: string | null
    phase: string | null
    reply: string | null
    duration_ms: number | null
  }>
}

export const TERMINAL = ['sent', 'delivered', 'bounced', 'expired', 'failed', 'suppressed', 'cancelled', 'partially_delivered']

/**
 * Environment for a harness delivering straight to MX hosts on loopback sinks (one shared port)
 * found through the loopback DNS server at `dnsServer`.
 */
export const mxEnv = (port: number, dnsServer: string, extra: Record<string, string> = {}) => ({
  DELIVERY_MODE: 'mx',
  MX_PORT: String(port),
  MX_ALLOW_PRIVATE: 'true',
  DNS_SERVERS: dnsServer,
  DNS_TIMEOUT: '1s',
  ...extra,
})

export const basicEmail = (overrides: Record<string, unknown> = {}) => ({
  from: 'Sender <sender@example.com>',
  to: 'rcpt@example.net',
  subject: 'Hello',
  text: 'Hello from the tests',
  ...overrides,
})

/** Removes this harness's Redis keys (its BullMQ prefix), so repeated runs leave nothing behind. */
async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0'
  for (let round = 0; round < 10_000; round++) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500)
    if (keys.length > 0) await redis.unlink(...keys)
    cursor = next
    if (cursor === '0') return
  }
}
