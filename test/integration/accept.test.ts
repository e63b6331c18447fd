import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { createPool, createPrisma, type Pool } from '../../src/infra/db.js'
import { StatementFailure } from '../../src/infra/db-boundary.js'
import { createLogger } from '../../src/infra/logger.js'
import { AppError } from '../../src/lib/errors.js'
import { uuidv7 } from '../../src/lib/uuid.js'
import {
  createAcceptBatcher,
  MAYBE_ACCEPTED,
  NOTHING_ACCEPTED,
  OUTCOME_UNKNOWN_RETRY_WITH_KEY,
} from '../../src/modules/emails/email.accept.js'
import { createEmailRepository, type NewEmailRows } from '../../src/modules/emails/email.repository.js'
import { buildEmailRows } from '../../src/modules/emails/email.rows.js'
import { createEmailService } from '../../src/modules/emails/email.service.js'
import { validateSendInput } from '../../src/modules/emails/email.validate.js'
import { createTestDatabase, waitFor } from '../helpers/env.js'
import { startPrivatePostgres } from '../helpers/processes.js'
import { startProxy } from '../helpers/tcp-proxy.js'

const emailsFor = (accountId: string, n: number, tag: string): NewEmailRows[] =>
  Array.from({ length: n }, (_, i) =>
    buildEmailRows(
      { accountId, apiKeyId: uuidv7(), keyId: 'test', scope: 'full' },
      validateSendInput(
        { from: 'sender@example.com', to: `${tag}-${i}@example.net`, subject: tag, text: 'hi' },
        { maxRecipients: 50, maxMessageBytes: 1_000_000 },
      ),
      { maxDeliveryAgeMs: 3_600_000, now: new Date() },
    ),
  )

const reasons = (results: PromiseSettledResult<unknown>[]) =>
  results.map((r) =>
    r.status === 'fulfilled' ? 'ok' : r.reason instanceof AppError ? `${r.reason.code}: ${r.reason.message}` : String(r.reason),
  )

/**
 * The accept batcher when the database connection fails mid-commit (review finding 6), against
 * a real PostgreSQL behind a TCP proxy that can lose a commit's acknowledgement, lose a request,
 * or stop answering altogether.
 */
describe('accept batcher: a commit whose connection fails', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>
  let direct: pg.Client
  let accountId: string

  before(async () => {
    db = await createTestDatabase()
    direct = new pg.Client({ connectionString: db.url })
    await direct.connect()
    accountId = uuidv7()
    await direct.query('INSERT INTO accounts (id, name) VALUES ($1, $2)', [accountId, 'accept test'])
  })
  after(async () => {
    await direct.end()
    await db.drop()
  })

  /** A batcher over a one-connection pool through the proxy, with short timeouts. */
  async function setup(timeouts = { connect: 2_000, query: 5_000 }) {
    const proxy = await startProxy(new URL(db.url))
    const pool: Pool = new pg.Pool({
      connectionString: proxy.url,
      max: 1,
      connectionTimeoutMillis: timeouts.connect,
      query_timeout: timeouts.query,
    })
    pool.on('error', () => {})
    const prisma = createPrisma(pool)
    const repository = createEmailRepository({ pool, prisma })
    const batcher = createAcceptBatcher({ store: repository, concurrency: 1, logger: createLogger('silent') })
    // One live connection in the pool, so the batch's statement is the next thing on the wire.
    await pool.query('SELECT 1')
    return {
      proxy,
      batcher,
      async close() {
        await prisma.$disconnect().catch(() => {})
        await pool.end().catch(() => {})
        await proxy.close()
      },
    }
  }

  const emails = (n: number, tag: string): NewEmailRows[] => emailsFor(accountId, n, tag)

  const stored = async (batch: NewEmailRows[]) =>
    (await direct.query<{ n: number }>('SELECT count(*)::int AS n FROM emails WHERE id = ANY($1::uuid[])', [batch.map((r) => r.email.id)]))
      .rows[0]?.n

  it('the acknowledgement of a committed batch is lost: every caller succeeds, each message stored once', async () => {
    const t = await setup()
    try {
      const batch = emails(5, 'lost-ack')
      t.proxy.set('lose-reply')
      const results = await Promise.allSettled(batch.map((rows) => t.batcher.push(rows)))
      assert.equal(t.proxy.cuts(), 1, 'the connection was cut after the commit')
      assert.deepEqual(
        reasons(results),
        batch.map(() => 'ok'),
      )
      assert.equal(await stored(batch), 5)
    } finally {
      await t.close()
    }
  })

  it('the batch never reached the database: every caller gets 503 and nothing is stored', async () => {
    const t = await setup()
    try {
      const batch = emails(4, 'lost-request')
      t.proxy.set('lose-request')
      const results = await Promise.allSettled(batch.map((rows) => t.batcher.push(rows)))
      assert.equal(t.proxy.cuts(), 1)
      assert.deepEqual(
        reasons(results),
        batch.map(() => `unavailable: ${NOTHING_ACCEPTED}`),
      )
      assert.equal(await stored(batch), 0)
    } finally {
      await t.close()
    }
  })

  it('a database that stops answering: 503 for all within the timeouts, not one wait per item', async () => {
    const t = await setup({ connect: 500, query: 1_000 })
    try {
      const batch = emails(20, 'silent')
      t.proxy.set('silent')
      const started = Date.now()
      const results = await Promise.allSettled(batch.map((rows) => t.batcher.push(rows)))
      const elapsed = Date.now() - started
      // One query timeout, then one connect timeout for the settling connection (which fails
      // too: the statement's backend cannot be ended or seen to exit, so nobody can be told
      // their message was committed, nor that it was not).
      assert.deepEqual(
        reasons(results),
        batch.map(() => `unavailable: ${MAYBE_ACCEPTED}`),
      )
      assert.ok(elapsed < 4_000, `answered in ${elapsed} ms`)
    } finally {
      await t.close()
    }
  })
})

/**
 * A commit that is still in progress when the client gives up on it: every commit waits for a
 * synchronous standby that never connects (a standby outage; `statement_timeout` does not cover
 * that wait, the client's `query_timeout` does). Whatever the caller is told must match what
 * ends up stored. On a private cluster: the shared server's settings are never changed.
 */
describe('accept: a commit still in progress when the client gives up', () => {
  let server: Awaited<ReturnType<typeof startPrivatePostgres>>
  let direct: pg.Client
  let accountId: string

  before(async () => {
    server = await startPrivatePostgres(fileURLToPath(new URL('../../prisma/migrations', import.meta.url)))
    direct = new pg.Client({ connectionString: server.url })
    await direct.connect()
    accountId = uuidv7()
    await direct.query('INSERT INTO accounts (id, name) VALUES ($1, $2)', [accountId, 'commit wait test'])
  })
  after(async () => {
    await direct?.end().catch(() => {})
    await server?.destroy()
  })

  /** Every commit now waits for a standby named `ghost`; resolves once a commit really does. */
  async function standbyOutage(): Promise<void> {
    await server.setOption('synchronous_standby_names', 'ghost')
    await waitFor(
      'commits waiting for the standby',
      async () => {
        const probe = new pg.Client({ connectionString: server.url, query_timeout: 300 })
        probe.on('error', () => {})
        await probe.connect()
        try {
          // A commit that writes WAL (catalog rows): one that writes none never waits for a standby.
          await probe.query('CREATE TEMP TABLE commit_probe (x int)')
          return undefined
        } catch {
          return true
        } finally {
          await direct.query('SELECT pg_terminate_backend($1)', [(probe as unknown as { processID: number }).processID])
          await probe.end().catch(() => {})
        }
      },
      10_000,
      100,
    )
  }

  /** The standby is back (its name is no longer required): commits still waiting complete. */
  const standbyBack = () => server.setOption('synchronous_standby_names', null)

  const storedIds = async (ids: string[]): Promise<string[]> =>
    (await direct.query<{ id: string }>('SELECT id FROM emails WHERE id = ANY($1::uuid[]) ORDER BY id', [ids])).rows.map((r) => r.id)

  it('a batch whose commit waits past the query timeout: no caller is told NOTHING_ACCEPTED for a stored message', async () => {
    // statement_timeout 1 s, query_timeout 3 s: the client gives up while the commit waits.
    const pool = createPool(server.url, 2, { statementTimeoutMs: 1_000 })
    const prisma = createPrisma(pool)
    const batcher = createAcceptBatcher({
      store: createEmailRepository({ pool, prisma }),
      concurrency: 1,
      logger: createLogger('silent'),
    })
    const batch = emailsFor(accountId, 3, 'commit-wait')
    const ids = batch.map((rows) => rows.email.id)
    let results: PromiseSettledResult<void>[]
    let waited = 0
    try {
      await pool.query('SELECT 1')
      await standbyOutage()
      const pushed = Date.now()
      results = await Promise.allSettled(batch.map((rows) => batcher.push(rows)))
      waited = Date.now() - pushed
    } finally {
      await standbyBack()
      await prisma.$disconnect().catch(() => {})
      await pool.end().catch(() => {})
    }
    // Whatever commit was still waiting has completed (standby back) or was ended: what is
    // stored now stays stored.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const stored = await storedIds(ids)
    const told = reasons(results)
    for (const [i, id] of ids.entries()) {
      if (stored.includes(id)) assert.equal(told[i], 'ok', `${id} is stored, and its caller was told: ${told[i]}`)
      else assert.notEqual(told[i], 'ok', `${id} is not stored, and its caller was told it was`)
    }
    // The waiting backend was ended: its commit, already durable locally, is visible and found.
    assert.deepEqual(told, ['ok', 'ok', 'ok'])
    assert.equal(stored.length, 3)
    // Not acknowledged by the server: the client gave up (query timeout, 3 s), then settled it.
    assert.ok(waited >= 2_900 && waited < 12_000, `answered in ${waited} ms`)
  })

  it('a backend that cannot be seen to exit: callers whose messages are not found are told the outcome is unknown', async () => {
    // The application's role may end its own backends, not a superuser's: that one stays.
    await direct.query('CREATE ROLE hikyaku_app LOGIN')
    await direct.query('GRANT SELECT ON emails TO hikyaku_app')
    const appUrl = new URL(server.url)
    appUrl.username = 'hikyaku_app'
    const pool = createPool(appUrl.toString(), 2, { statementTimeoutMs: 1_000 })
    const prisma = createPrisma(pool)
    const repository = createEmailRepository({ pool, prisma })
    const stuck = (direct as unknown as { processID: number }).processID
    try {
      const [kept, unknown] = emailsFor(accountId, 2, 'stuck-backend')
      assert.ok(kept && unknown)
      // One of the two was committed (by the statement whose backend is in doubt, say).
      const admin = createPool(server.url, 1)
      await createEmailRepository({ pool: admin, prisma: createPrisma(admin) }).insert([kept])
      await admin.end()
      const batcher = createAcceptBatcher({
        store: {
          insert: async () => {
            throw new StatementFailure(true, stuck, new Error('Query read timeout'))
          },
          committedAfter: repository.committedAfter,
        },
        concurrency: 1,
        logger: createLogger('silent'),
      })
      const results = await Promise.allSettled([kept, unknown].map((rows) => batcher.push(rows)))
      assert.deepEqual(reasons(results), ['ok', `unavailable: ${MAYBE_ACCEPTED}`])
      assert.equal((await direct.query('SELECT 1 AS alive')).rows[0]?.alive, 1, 'the backend was not ended')
    } finally {
      await prisma.$disconnect().catch(() => {})
      await pool.end().catch(() => {})
    }
  })

  it('under an Idempotency-Key: the caller is told the outcome is unknown, and a retry with the key replays the message once stored', async () => {
    const pool = createPool(server.url, 2, { statementTimeoutMs: 1_000 })
    const prisma = createPrisma(pool)
    const dispatched: string[] = []
    const service = createEmailService({
      repository: createEmailRepository({ pool, prisma }),
      dispatcher: {
        dispatch: async (jobs) => {
          dispatched.push(...jobs.map((j) => j.deliveryId))
        },
        backlog: async () => 0,
        redispatch: async () => 0,
      },
      logger: createLogger('silent'),
      limits: { maxRecipients: 50, maxMessageBytes: 1_000_000, maxDeliveryAgeMs: 3_600_000 },
      acceptConcurrency: 1,
    })
    const principal = { accountId, apiKeyId: uuidv7(), keyId: 'test', scope: 'full' as const }
    const input = { from: 'sender@example.com', to: 'idem@example.net', subject: 'idem', text: 'hi' }
    const idempotency = { key: `key-${uuidv7()}`, fingerprint: 'same-request' }
    try {
      await pool.query('SELECT 1')
      await standbyOutage()
      let first: unknown
      try {
        await service.submitApi(principal, input, { idempotency })
        assert.fail('the commit cannot have been acknowledged while every commit waits')
      } catch (err) {
        first = err
      }
      assert.ok(first instanceof AppError, String(first))
      assert.equal(first.code, 'unavailable')
      assert.equal(first.message, OUTCOME_UNKNOWN_RETRY_WITH_KEY)
      assert.doesNotMatch(first.message, /nothing was accepted/i)
      // While that transaction still waits on its commit it holds the key: a retry is told so.
      await assert.rejects(service.submitApi(principal, input, { idempotency }), (err: unknown) => {
        assert.ok(err instanceof AppError)
        assert.equal(err.code, 'idempotency_in_progress')
        return true
      })
    } finally {
      await standbyBack()
    }
    try {
      // The commit went through: the retry with the same key answers it, and nothing is stored twice.
      const replay = await waitFor('the stored answer', async () => {
        const result = await service.submitApi(principal, input, { idempotency }).catch(() => undefined)
        return result
      })
      assert.equal(replay.replayed, true)
      const { rows } = await direct.query<{ email_id: string }>(
        'SELECT email_id FROM idempotency_records WHERE account_id = $1 AND key = $2',
        [accountId, idempotency.key],
      )
      assert.deepEqual(await storedIds([rows[0]?.email_id ?? '']), [replay.body.id])
      const { rows: count } = await direct.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM emails WHERE account_id = $1 AND subject = 'idem'",
        [accountId],
      )
      assert.equal(count[0]?.n, 1)
    } finally {
      await prisma.$disconnect().catch(() => {})
      await pool.end().catch(() => {})
    }
  })
})
