import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type EmailView, type Harness, startHarness, TERMINAL, workerEnv } from '../helpers/harness.js'
import { spawnHikyaku } from '../helpers/processes.js'
import { startSink } from '../helpers/smtp-sink.js'

/**
 * Crash takeover and the wait for the final reply, with the default lease, renewal, sweep and
 * SMTP timeouts (only the relay differs): what a deployment gets without tuning anything. Both
 * take about a minute and a half, so they run side by side.
 */
const sendTo = async (h: Harness, addresses: string[]) => {
  const ids: Record<string, string> = {}
  for (const to of addresses) {
    const res = await h.send(basicEmail({ to }))
    assert.equal(res.status, 202)
    ids[to] = res.body.id
  }
  return ids
}

describe('with the default timings', { concurrency: 2 }, () => {
  it('a worker killed with SIGKILL mid-delivery: everything delivered within 90 s, duplicates only past DATA and flagged', async () => {
    let stalling = true
    const rcptSeen = new Set<string>()
    // `pre-*` transactions are held before DATA (the RCPT reply), `post-*` after the final dot.
    const sink = await startSink({
      rcpt: (address) => {
        rcptSeen.add(address)
        return stalling && address.startsWith('pre') ? { stallMs: 120_000 } : undefined
      },
      data: (message) => (stalling && message.to.some((t) => t.startsWith('post')) ? { kind: 'stall', ms: 120_000 } : { kind: 'accept' }),
    })
    const h = await startHarness({ worker: false, env: { SMTP_RELAY_URL: sink.url } })
    const env = workerEnv(h, { SMTP_RELAY_URL: sink.url })
    try {
      const pre = [1, 2, 3].map((n) => `pre-${n}@example.net`)
      const post = [1, 2, 3].map((n) => `post-${n}@example.net`)
      const ids = await sendTo(h, [...pre, ...post])
      const first = spawnHikyaku(['worker'], env)
      try {
        await waitFor(
          'every transaction to be in flight',
          () => (pre.every((a) => rcptSeen.has(a)) && sink.received.length === post.length ? true : undefined),
          30_000,
        )
      } finally {
        first.child.kill('SIGKILL')
      }
      const killedAt = Date.now()
      assert.equal(await first.exited, null, 'killed by the signal')
      stalling = false

      const second = spawnHikyaku(['worker'], env)
      try {
        const emails = await waitFor(
          'every email to be sent',
          async () => {
            const all = (await Promise.all(Object.values(ids).map((id) => h.getEmail(id)))) as EmailView[]
            return all.every((e) => TERMINAL.includes(e.status)) ? all : undefined
          },
          100_000,
          500,
        )
        const tookMs = Date.now() - killedAt
        assert.ok(tookMs <= 90_000, `taken over and delivered within 90 s of the kill (took ${tookMs} ms)`)
        assert.deepEqual(
          emails.map((e) => e.status),
          emails.map(() => 'sent'),
        )
        const times = (address: string) => sink.received.filter((m) => m.to.includes(address)).length
        for (const email of emails) {
          const r = email.recipients[0] as EmailView['recipients'][number]
          const dead = email.attempts.find((a) => a.number === 1)
          assert.equal(dead?.outcome, 'abandoned', `${r.address}: the dead attempt is closed as abandoned`)
          if (r.address.startsWith('pre')) {
            assert.equal(times(r.address), 1, `${r.address} was sent once`)
            assert.equal(r.possible_duplicate, false, `${r.address} died before DATA: not a duplicate`)
            assert.notEqual(dead?.phase, 'data')
          } else {
            assert.equal(times(r.address), 2, `${r.address} reached the sink before the kill and after`)
            assert.equal(r.possible_duplicate, true, `${r.address} was sent twice: it must be flagged`)
            assert.equal(dead?.phase, 'data', 'the dead attempt recorded that it reached DATA')
          }
        }
      } finally {
        second.child.kill('SIGTERM')
        await second.exited
      }
    } finally {
      await h.close()
      await sink.close()
    }
  })

  it('a receiver that answers the final dot after 90 s (past every other timeout and the lease): delivered exactly once', async () => {
    const sink = await startSink({ data: () => ({ kind: 'stall', ms: 90_000 }) })
    const h = await startHarness({ worker: false, env: { SMTP_RELAY_URL: sink.url } })
    const worker = spawnHikyaku(['worker'], workerEnv(h, { SMTP_RELAY_URL: sink.url }))
    try {
      const ids = await sendTo(h, ['patient@example.net'])
      const id = ids['patient@example.net'] as string
      const email = (await waitFor(
        'the slow reply',
        async () => {
          const e = (await h.getEmail(id)) as EmailView
          return TERMINAL.includes(e.status) ? e : undefined
        },
        120_000,
        500,
      )) as EmailView
      assert.equal(email.status, 'sent')
      assert.equal(sink.received.length, 1, 'one delivery: the lease was renewed while the receiver thought')
      assert.equal(email.recipients[0]?.possible_duplicate, false)
      assert.equal(email.attempts.length, 1)
      assert.ok((email.attempts[0]?.duration_ms ?? 0) >= 90_000)
    } finally {
      worker.child.kill('SIGTERM')
      await worker.exited
      await h.close()
      await sink.close()
    }
  })
})
