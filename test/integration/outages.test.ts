import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Queue } from 'bullmq'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type EmailView, type Harness, startHarness, workerEnv } from '../helpers/harness.js'
import { freePort, spawnHikyaku, startPrivateRedis } from '../helpers/processes.js'
import { smtpClient } from '../helpers/smtp-client.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'
import { startProxy } from '../helpers/tcp-proxy.js'

/** What a caller sees while a backing service is away, and what happens once it is back. */
const timed = async <T>(fn: () => Promise<T>) => {
  const started = Date.now()
  const value = await fn()
  return { value, ms: Date.now() - started }
}

describe('Redis down when the processes start (C1)', () => {
  let sink: Sink
  let h: Harness
  let redisPort: number
  let redis: Awaited<ReturnType<typeof startPrivateRedis>> | undefined

  before(async () => {
    sink = await startSink()
    redisPort = await freePort()
    // Nothing listens on the Redis port yet: API, SMTP, worker and sweeper all start without it.
    h = await startHarness({ smtp: true, env: { SMTP_RELAY_URL: sink.url, REDIS_URL: `redis://127.0.0.1:${redisPort}` } })
  })
  after(async () => {
    await h.close()
    await sink.close()
    await redis?.stop()
  })

  it('sends get 202 (HTTP) and 250 (SMTP) within 2 s, and are delivered once Redis is back', async () => {
    const http = await timed(() => h.send(basicEmail({ to: 'no-redis-http@example.net' })))
    assert.equal(http.value.status, 202, JSON.stringify(http.value.body))
    assert.ok(http.ms < 2_000, `HTTP answered in ${http.ms} ms`)
    const smtp = await timed(() =>
      smtpClient(h).sendMail({ from: 'sender@example.com', to: 'no-redis-smtp@example.net', subject: 'hi', text: 'hi' }),
    )
    assert.match(smtp.value.response, /^250 /)
    assert.ok(smtp.ms < 2_000, `SMTP answered in ${smtp.ms} ms`)

    redis = await startPrivateRedis({ port: redisPort })
    await waitFor('both messages to arrive', () => (sink.received.length >= 2 ? true : undefined), 30_000)
    assert.deepEqual(sink.received.map((m) => m.to[0]).sort(), ['no-redis-http@example.net', 'no-redis-smtp@example.net'])
  })
})

describe('PostgreSQL that accepts connections but never answers (C1)', () => {
  let h: Harness
  let proxy: Awaited<ReturnType<typeof startProxy>>

  before(async () => {
    const { createTestDatabase } = await import('../helpers/env.js')
    const db = await createTestDatabase()
    proxy = await startProxy(new URL(db.url))
    h = await startHarness({ smtp: true, worker: false, databaseUrl: proxy.url, env: { DB_STATEMENT_TIMEOUT: '2s' } })
    const close = h.close
    h.close = async () => {
      await close()
      await proxy.close()
      await db.drop()
    }
  })
  after(async () => {
    await h.close()
  })

  it('HTTP answers 503 and SMTP 451 within the statement timeout and a little more; service resumes after', async () => {
    // Warm: the pool holds live connections, which go silent along with new ones.
    assert.equal((await h.send(basicEmail())).status, 202)
    proxy.set('silent')
    const http = await timed(() => h.send(basicEmail({ to: 'hung@example.net' })))
    assert.equal(http.value.status, 503, JSON.stringify(http.value.body))
    assert.equal(http.value.body.error.code, 'unavailable')
    assert.ok(http.value.headers['retry-after'])
    assert.ok(http.ms < 6_000, `HTTP answered in ${http.ms} ms (statement timeout 2 s + 2 s client margin)`)

    const smtp = await timed(() =>
      smtpClient(h)
        .sendMail({ from: 'sender@example.com', to: 'hung@example.net', subject: 'hi', text: 'hi' })
        .then(
          () => 250,
          (err: { responseCode?: number }) => err.responseCode,
        ),
    )
    // Whichever command first needs the database (AUTH, then MAIL) gets a temporary refusal.
    assert.ok([451, 454].includes(smtp.value ?? 0), `a temporary refusal, got ${smtp.value}`)
    assert.ok(smtp.ms < 12_000, `SMTP answered in ${smtp.ms} ms`)

    proxy.set('pass')
    await waitFor(
      'sends to be accepted again',
      async () => ((await h.send(basicEmail({ to: 'back@example.net' }))).status === 202 ? true : undefined),
      20_000,
      250,
    )
  })
})

describe('a stale job resurrected from an old Redis snapshot (F5)', () => {
  let sink: Sink
  let h: Harness
  let queue: Queue
  const tries = new Map<string, number>()

  before(async () => {
    // The first try of every message is deferred; the real retry is an hour away.
    sink = await startSink({
      data: (message) => {
        const to = message.to[0] ?? ''
        tries.set(to, (tries.get(to) ?? 0) + 1)
        return tries.get(to) === 1 ? { kind: 'reject', code: 451, message: '4.3.0 try later' } : { kind: 'accept' }
      },
    })
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url, RETRY_SCHEDULE: '1h' } })
    queue = new Queue('delivery', { connection: { url: h.config.redisUrl }, prefix: h.config.bullmqPrefix })
  })
  after(async () => {
    await queue.close()
    await h.close()
    await sink.close()
  })

  it('never sends before the recipient is due, nor after the email expired', async () => {
    const id = (await h.send(basicEmail({ to: 'stale@example.net' }))).body.id as string
    const deferred = await h.waitForEmail(id, (e) => e.status === 'deferred')
    const { rows } = await h.container.pool.query('SELECT delivery_id FROM recipients WHERE email_id = $1', [id])
    const deliveryId = rows[0].delivery_id as string
    assert.equal(tries.get('stale@example.net'), 1)

    // The snapshot had the retry job already waiting (and the first job not yet done).
    await queue.remove(`dlv-${deliveryId}-2`)
    for (const attempt of [1, 2]) {
      await queue.add('attempt', { deliveryId, attempt, route: 'relay' }, { jobId: `dlv-${deliveryId}-${attempt}`, removeOnComplete: true })
    }
    await waitFor('the stale jobs to be consumed', async () => ((await queue.count()) === 0 ? true : undefined), 10_000, 100)
    const after = (await h.getEmail(id)) as EmailView
    assert.equal(tries.get('stale@example.net'), 1, 'nothing sent early')
    assert.equal(after.recipients[0]?.status, 'deferred')
    assert.equal(after.attempts.length, 1)
    assert.equal(
      after.recipients[0] && (after.recipients[0] as { next_attempt_at?: string }).next_attempt_at,
      deferred.recipients?.[0]?.next_attempt_at,
    )

    // Due now, but expired: a job must not send it either; the sweeper expires it.
    await h.container.pool.query("UPDATE emails SET expires_at = now() - interval '1 second' WHERE id = $1; ", [id])
    // As if a provider's block had held it until then: the expiry says so.
    await h.container.pool.query("UPDATE recipients SET next_attempt_at = now(), reason = 'destination_blocked' WHERE email_id = $1", [id])
    await queue.add('attempt', { deliveryId, attempt: 2, route: 'relay' }, { jobId: `dlv-${deliveryId}-2b`, removeOnComplete: true })
    const expired = await h.waitForEmail(id, (e) => e.status === 'expired')
    assert.equal(tries.get('stale@example.net'), 1, 'nothing sent after the deadline')
    assert.equal((expired as unknown as EmailView).attempts.length, 1)
    const expiry = (expired as unknown as { events: Array<{ type: string; data: Record<string, unknown> }> }).events.at(-1)
    assert.deepEqual(
      [expiry?.type, expiry?.data.reason, expiry?.data.last_reason],
      ['email.expired', 'max_delivery_age', 'destination_blocked'],
    )
  })
})

describe('a worker stopped while Redis is down', () => {
  let h: Harness
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>

  before(async () => {
    redis = await startPrivateRedis()
    h = await startHarness({ worker: false, env: { REDIS_URL: redis.url } })
  })
  after(async () => {
    await h.close()
  })

  it('still exits 0 soon after SIGTERM (BullMQ cannot finish closing without Redis)', async () => {
    const worker = spawnHikyaku(['worker'], workerEnv(h, { SHUTDOWN_TIMEOUT: '2s', LOG_LEVEL: 'info' }))
    await waitFor('the worker to start', () => (worker.output().includes('delivery worker started') ? true : undefined), 30_000, 100)
    await redis.stop()
    const started = Date.now()
    worker.child.kill('SIGTERM')
    assert.equal(await worker.exited, 0, worker.output())
    assert.ok(Date.now() - started < 10_000, `exited after ${Date.now() - started} ms`)
  })
})
