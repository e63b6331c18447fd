import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type EmailView, type Harness, startHarness, TERMINAL, workerEnv } from '../helpers/harness.js'
import { spawnHikyaku } from '../helpers/processes.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'
import { startTarpit } from '../helpers/tarpit.js'

/**
 * Hard limits on a send (C7): a transaction has a wall-clock cap however the receiver behaves,
 * and a stopping worker gives back what it never sent.
 */
async function firstAttempt(h: Harness, id: string, timeoutMs: number) {
  return waitFor(
    'the first attempt to end',
    async () => {
      const email = (await h.getEmail(id)) as EmailView
      const attempt = email.attempts.find((a) => a.number === 1 && a.outcome !== null)
      // The view reads recipients, then attempts: an attempt can show finished a moment before
      // its recipient's status does.
      return attempt && email.recipients[0]?.status !== 'sending' ? { email, attempt } : undefined
    },
    timeoutMs,
    100,
  )
}

for (const stage of ['rcpt', 'dot'] as const) {
  describe(`a receiver that dribbles its ${stage === 'rcpt' ? 'reply to RCPT TO' : 'reply to the final dot'}`, () => {
    let tarpit: Awaited<ReturnType<typeof startTarpit>>
    let h: Harness

    before(async () => {
      tarpit = await startTarpit(stage, 200)
      h = await startHarness({
        env: {
          SMTP_RELAY_URL: tarpit.url,
          // One byte every 200 ms keeps every inactivity timer happy; only the cap ends it.
          SMTP_TIMEOUT: '1s',
          SMTP_DATA_TIMEOUT: '2s',
          SMTP_TRANSACTION_TIMEOUT: '3s',
          WORKER_CONCURRENCY: '1',
          SMTP_POOL_SIZE: '1',
          RETRY_SCHEDULE: '1h',
        },
      })
    })
    after(async () => {
      await h.close()
      await tarpit.close()
    })

    it('is cut at the cap, the attempt deferred, and the worker slot freed for the next message', async () => {
      const started = Date.now()
      const ids = []
      for (const n of [1, 2]) ids.push((await h.send(basicEmail({ to: `tarpit-${stage}-${n}@example.net` }))).body.id as string)
      // With one worker slot, the second message starts only once the first was cut.
      const results = []
      for (const id of ids) results.push(await firstAttempt(h, id, 20_000))
      for (const { email, attempt } of results) {
        assert.equal(email.recipients[0]?.status, 'deferred')
        assert.equal(email.recipients[0]?.reason, 'waiting_retry')
        assert.match(attempt.reply ?? '', /time cap/)
        assert.ok((attempt.duration_ms ?? 0) >= 2_500, `cut at the cap, not before (${attempt.duration_ms} ms)`)
        assert.ok((attempt.duration_ms ?? 0) < 8_000, `cut at the cap, not later (${attempt.duration_ms} ms)`)
        // Past the final dot the receiver may have taken the message: a retry would be flagged.
        assert.equal(attempt.phase, stage === 'dot' ? 'after_data' : 'mail')
        assert.equal(email.recipients[0]?.possible_duplicate, stage === 'dot')
      }
      assert.ok(Date.now() - started < 25_000, 'both caps ran one after the other')
      await waitFor('the cut connections to close', () => (tarpit.open === 0 ? true : undefined), 5_000)
    })
  })
}

describe('SIGTERM while deliveries are in flight, with a short SHUTDOWN_TIMEOUT', () => {
  let sink: Sink
  let h: Harness
  let holding = true
  const rcptSeen = new Set<string>()

  before(async () => {
    // `held-*`: the RCPT reply is held, so the attempt never reaches DATA before the cut.
    // `late-*`: the whole message arrives and the reply to its final dot is held.
    sink = await startSink({
      rcpt: (address) => {
        rcptSeen.add(address)
        return holding && address.startsWith('held') ? { stallMs: 30_000 } : undefined
      },
      data: (message) => (holding && message.to.some((t) => t.startsWith('late')) ? { kind: 'stall', ms: 30_000 } : { kind: 'accept' }),
    })
    h = await startHarness({ worker: false, env: { SMTP_RELAY_URL: sink.url } })
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  it('exits 0, gives back the claims that never reached DATA, and flags the one past the dot', async () => {
    const worker = spawnHikyaku(['worker'], workerEnv(h, { SMTP_RELAY_URL: sink.url, SHUTDOWN_TIMEOUT: '1s', RETRY_SCHEDULE: '200ms' }))
    const held = [1, 2].map((n) => `held-${n}@example.net`)
    const ids: Record<string, string> = {}
    for (const to of [...held, 'late-1@example.net']) ids[to] = (await h.send(basicEmail({ to }))).body.id
    await waitFor(
      'every transaction to be in flight',
      () => (held.every((a) => rcptSeen.has(a)) && sink.received.length === 1 ? true : undefined),
      30_000,
    )
    const stopAt = Date.now()
    worker.child.kill('SIGTERM')
    assert.equal(await worker.exited, 0, worker.output())
    assert.ok(Date.now() - stopAt < 8_000, `stopped soon after SHUTDOWN_TIMEOUT (${Date.now() - stopAt} ms)`)

    for (const to of held) {
      const email = (await h.getEmail(ids[to] as string)) as EmailView
      assert.equal(email.recipients[0]?.status, 'queued', `${to} is queued again`)
      assert.equal(email.recipients[0]?.possible_duplicate, false, `${to} is not flagged: it never reached DATA`)
      assert.deepEqual(
        email.attempts.map((a) => a.outcome),
        ['released'],
      )
    }
    const late = (await h.getEmail(ids['late-1@example.net'] as string)) as EmailView
    assert.equal(late.recipients[0]?.status, 'deferred')
    assert.equal(late.recipients[0]?.possible_duplicate, true, 'cut after the final dot: the receiver may have it')
    assert.equal(late.attempts[0]?.phase, 'after_data')

    // The next worker delivers everything: the released ones once, the flagged one again.
    holding = false
    const next = spawnHikyaku(['worker'], workerEnv(h, { SMTP_RELAY_URL: sink.url, RETRY_SCHEDULE: '200ms', SWEEP_INTERVAL: '500ms' }))
    try {
      await waitFor(
        'every email to be sent',
        async () => {
          const emails = await Promise.all(Object.values(ids).map((id) => h.getEmail(id)))
          return emails.every((e) => TERMINAL.includes(e.status)) ? emails : undefined
        },
        30_000,
        200,
      )
      for (const to of held) assert.equal(sink.received.filter((m) => m.to.includes(to)).length, 1, `${to} delivered once`)
      for (const id of Object.values(ids)) assert.equal(((await h.getEmail(id)) as EmailView).status, 'sent')
    } finally {
      next.child.kill('SIGTERM')
      await next.exited
    }
  })
})

describe('more deliveries than relay connections', () => {
  let sink: Sink
  let h: Harness

  before(async () => {
    // Each message holds the only connection for 700 ms, longer than SMTP_TIMEOUT: waiting for
    // the connection must not be timed (or counted) like an SMTP step.
    sink = await startSink({ data: () => ({ kind: 'stall', ms: 700 }) })
    h = await startHarness({
      env: {
        SMTP_RELAY_URL: sink.url,
        SMTP_POOL_SIZE: '1',
        WORKER_CONCURRENCY: '4',
        SMTP_TIMEOUT: '500ms',
        SMTP_DATA_TIMEOUT: '2s',
        SMTP_TRANSACTION_TIMEOUT: '5s',
      },
    })
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  it('waiting for a free connection is not an attempt: each message is sent on its first', async () => {
    const ids = []
    for (const n of [1, 2, 3, 4]) ids.push((await h.send(basicEmail({ to: `queued-${n}@example.net` }))).body.id as string)
    for (const id of ids) {
      const email = (await h.waitForEmail(id, (e) => TERMINAL.includes(e.status), 20_000)) as unknown as EmailView
      assert.equal(email.status, 'sent')
      assert.deepEqual(
        email.attempts.map((a) => a.outcome),
        ['sent'],
      )
    }
    assert.equal(sink.maxConcurrent, 1)
  })
})
