import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness, TERMINAL, workerEnv } from '../helpers/harness.js'
import { spawnHikyaku, startPrivateRedis } from '../helpers/processes.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

type Email = { status: string; recipients: Array<{ address: string; possible_duplicate: boolean; status: string }> }

/** How many times the sink saw each recipient address. */
const countsByRecipient = (sink: Sink) => {
  const counts = new Map<string, number>()
  for (const m of sink.received) for (const to of m.to) counts.set(to, (counts.get(to) ?? 0) + 1)
  return counts
}

async function sendMany(h: Harness, n: number, prefix: string): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await h.send(basicEmail({ to: `${prefix}-${i}@example.net` }))
    assert.equal(res.status, 202)
    ids.push(res.body.id)
  }
  return ids
}

async function waitAllTerminal(h: Harness, ids: string[], timeoutMs: number): Promise<Email[]> {
  return waitFor(
    'every email to reach a terminal status',
    async () => {
      const emails = (await Promise.all(ids.map((id) => h.getEmail(id)))) as Email[]
      return emails.every((e) => TERMINAL.includes(e.status)) ? emails : undefined
    },
    timeoutMs,
    200,
  )
}

describe('Redis is only a dispatch cache (C2)', () => {
  let sink: Sink
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>
  let h: Harness

  before(async () => {
    redis = await startPrivateRedis()
    // Slow replies keep most jobs waiting in Redis when it is flushed; some recipients are
    // deferred once so that delayed retry jobs are lost too.
    const seen = new Set<string>()
    sink = await startSink({
      data: (message) => {
        const to = message.to[0] ?? ''
        if (to.startsWith('retry') && !seen.has(to)) {
          seen.add(to)
          return { kind: 'reject', code: 451, message: '4.3.0 try later' }
        }
        return { kind: 'stall', ms: 40 }
      },
    })
    h = await startHarness({
      env: {
        SMTP_RELAY_URL: sink.url,
        REDIS_URL: redis.url,
        SMTP_POOL_SIZE: '2',
        WORKER_CONCURRENCY: '4',
        RETRY_SCHEDULE: '1s',
        SWEEP_INTERVAL: '500ms',
      },
    })
  })
  after(async () => {
    await h.close()
    await sink.close()
    await redis.stop()
  })

  it('a FLUSHALL mid-run loses nothing: every message is sent, none twice without a flag', async () => {
    const ids = [...(await sendMany(h, 30, 'flush')), ...(await sendMany(h, 5, 'retry'))]
    await waitFor('some deliveries to happen first', () => (sink.received.length >= 5 ? true : undefined), 15_000)
    const jobs = async () => (await redis.client.keys(`${h.config.bullmqPrefix}:delivery:dlv-*`)).length
    const before = await jobs()
    await redis.client.flushall()
    // The flush really took jobs with it: without the sweeper these messages would never go.
    assert.ok(before > 0, 'delivery jobs were waiting in Redis when it was flushed')
    assert.equal(await jobs(), 0)
    const pending = await h.container.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM recipients WHERE status IN ('queued', 'deferred', 'sending')",
    )
    assert.ok((pending.rows[0]?.n ?? 0) > 0, 'recipients were still pending after the flush')

    const emails = await waitAllTerminal(h, ids, 40_000)
    assert.deepEqual(
      emails.filter((e) => e.status !== 'sent').map((e) => e.status),
      [],
      'every message is sent',
    )
    const counts = countsByRecipient(sink)
    for (const e of emails) {
      const r = e.recipients[0]!
      const times = counts.get(r.address) ?? 0
      assert.ok(times >= 1, `${r.address} reached the sink`)
      if (times > 1) assert.equal(r.possible_duplicate, true, `${r.address} was sent ${times} times without a flag`)
    }
  })
})

describe('a worker killed with SIGKILL mid-delivery (C4)', () => {
  let sink: Sink
  let h: Harness
  let stalling = true

  before(async () => {
    // While `stalling`, the sink takes the whole message and holds its reply: the worker is
    // killed in exactly the window where the remote has the data and we have no answer.
    sink = await startSink({ data: () => (stalling ? { kind: 'stall', ms: 30_000 } : { kind: 'accept' }) })
    h = await startHarness({ worker: false, env: { SMTP_RELAY_URL: sink.url } })
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  it('loses no message and sends none twice unless it is flagged possible_duplicate', async () => {
    const env = workerEnv(h, {
      SMTP_RELAY_URL: sink.url,
      DELIVERY_LEASE: '2s',
      SWEEP_INTERVAL: '500ms',
      RETRY_SCHEDULE: '200ms',
      SMTP_TIMEOUT: '60s',
    })
    const ids = await sendMany(h, 8, 'kill')
    const first = spawnHikyaku(['worker'], env)
    try {
      await waitFor('the first worker to be mid-delivery', () => (sink.received.length >= 3 ? true : undefined), 30_000)
    } finally {
      first.child.kill('SIGKILL')
    }
    assert.equal(await first.exited, null, 'killed by the signal')
    const inFlight = sink.received.length

    stalling = false
    const second = spawnHikyaku(['worker'], env)
    try {
      const emails = await waitAllTerminal(h, ids, 40_000)
      assert.deepEqual(
        emails.map((e) => e.status),
        ids.map(() => 'sent'),
        'every message is sent',
      )
      const counts = countsByRecipient(sink)
      let flagged = 0
      for (const e of emails) {
        const r = e.recipients[0]!
        const times = counts.get(r.address) ?? 0
        assert.ok(times >= 1, `${r.address} reached the sink`)
        if (times > 1) assert.equal(r.possible_duplicate, true, `${r.address} was sent ${times} times without a flag`)
        if (r.possible_duplicate) flagged++
      }
      assert.ok(flagged >= inFlight, `the ${inFlight} messages in flight at the kill are flagged (got ${flagged})`)
    } finally {
      second.child.kill('SIGTERM')
      await second.exited
    }
  })
})

describe('graceful shutdown', () => {
  let sink: Sink
  let h: Harness

  before(async () => {
    sink = await startSink({ data: () => ({ kind: 'stall', ms: 700 }) })
    h = await startHarness({ worker: false, env: { SMTP_RELAY_URL: sink.url } })
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  it('SIGTERM lets the delivery in flight finish, then exits 0', async () => {
    const worker = spawnHikyaku(['worker'], workerEnv(h, { SMTP_RELAY_URL: sink.url, SHUTDOWN_TIMEOUT: '10s' }))
    const [id] = await sendMany(h, 1, 'graceful')
    await waitFor('the delivery to be in flight', () => (sink.received.length >= 1 ? true : undefined), 30_000)
    assert.equal(((await h.getEmail(id as string)) as Email).status, 'sending', 'the email shows sending while its recipient is')
    const started = Date.now()
    worker.child.kill('SIGTERM')
    assert.equal(await worker.exited, 0, worker.output())
    assert.ok(Date.now() - started < 10_000, 'exits within the shutdown timeout')
    const email = (await h.getEmail(id as string)) as Email
    assert.equal(email.status, 'sent', 'the attempt in flight was completed and recorded')
  })
})

describe('duplicate jobs for one delivery', () => {
  let sink: Sink
  let h: Harness

  before(async () => {
    sink = await startSink({ data: () => ({ kind: 'stall', ms: 100 }) })
    h = await startHarness({ worker: false, env: { SMTP_RELAY_URL: sink.url } })
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  it('claim the recipients once: one SMTP transaction, however many jobs arrive together', async () => {
    const [id] = await sendMany(h, 1, 'dup')
    const { rows } = await h.container.pool.query('SELECT delivery_id FROM recipients WHERE email_id = $1', [id])
    const deliveryId = rows[0].delivery_id as string
    const service = h.container.deliveryParts().service
    const results = await Promise.all([1, 1, 2].map((attempt) => service.attempt({ deliveryId, attempt })))
    assert.deepEqual(results.map((r) => r.claimed).sort(), [0, 0, 1])
    assert.equal(sink.received.filter((m) => m.to.includes('dup-0@example.net')).length, 1)
    assert.equal(((await h.getEmail(id as string)) as Email).status, 'sent')
  })
})
