import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { createPrisma, type Pool } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import { AppError } from '../../src/lib/errors.js'
import { uuidv7 } from '../../src/lib/uuid.js'
import { createAcceptBatcher, MAYBE_ACCEPTED, NOTHING_ACCEPTED } from '../../src/modules/emails/email.accept.js'
import { createEmailRepository, type NewEmailRows } from '../../src/modules/emails/email.repository.js'
import { buildEmailRows } from '../../src/modules/emails/email.rows.js'
import { validateSendInput } from '../../src/modules/emails/email.validate.js'
import { createTestDatabase } from '../helpers/env.js'
import { startProxy } from '../helpers/tcp-proxy.js'

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

  const emails = (n: number, tag: string): NewEmailRows[] =>
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

  const stored = async (batch: NewEmailRows[]) =>
    (await direct.query<{ n: number }>('SELECT count(*)::int AS n FROM emails WHERE id = ANY($1::uuid[])', [batch.map((r) => r.email.id)]))
      .rows[0]?.n

  const reasons = (results: PromiseSettledResult<void>[]) =>
    results.map((r) =>
      r.status === 'fulfilled' ? 'ok' : r.reason instanceof AppError ? `${r.reason.code}: ${r.reason.message}` : String(r.reason),
    )

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
      // One query timeout, then one connect timeout for the existence check (which fails too,
      // so nobody can be told their message was committed).
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
