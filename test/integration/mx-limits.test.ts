import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { startDnsServer } from '../helpers/dns-server.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, mxEnv, startHarness, TERMINAL } from '../helpers/harness.js'
import { freePort } from '../helpers/processes.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

type Recipient = { address: string; status: string; reason: string | null }
type Email = { status: string; recipients: Recipient[] }

/**
 * Limits a destination sets that are not about rate: recipients per transaction and per
 * connection (docomo refuses a session with more than 100), and connections that are reset.
 * Loopback MX sinks behind a loopback DNS server; the carrier's domain is served by that server.
 */
describe('MX limits: recipients per transaction and connection, and connection resets', () => {
  let dns: Awaited<ReturnType<typeof startDnsServer>>
  let h: Harness
  let carrier: Sink
  let resetter: Server
  let resets = 0
  const rcptsBySession = new Map<string, number>()

  before(async () => {
    const port = await freePort()
    carrier = await startSink(
      {
        rcpt: (_address, session) => {
          rcptsBySession.set(session.id, (rcptsBySession.get(session.id) ?? 0) + 1)
          return undefined
        },
      },
      { host: '127.0.0.42', port },
    )
    // A destination that resets every connection (as au does when it is congested).
    resetter = createServer((socket: Socket) => {
      resets++
      socket.resetAndDestroy()
    })
    await new Promise<void>((resolve) => resetter.listen(port, '127.0.0.43', resolve))
    dns = await startDnsServer({
      'docomo.ne.jp': { MX: [{ priority: 10, exchange: 'mfsmax.docomo.ne.jp' }] },
      'mfsmax.docomo.ne.jp': { A: ['127.0.0.42'] },
      'reset.test': { MX: [{ priority: 10, exchange: 'mx.reset.test' }] },
      'mx.reset.test': { A: ['127.0.0.43'] },
    })
    h = await startHarness({
      env: mxEnv(port, dns.server, {
        WORKER_CONCURRENCY: '4',
        RETRY_SCHEDULE: '10m',
        MAX_RECIPIENTS: '300',
      }),
    })
  })
  after(async () => {
    await h.close()
    await dns.close()
    await carrier.close()
    await new Promise((resolve) => resetter.close(resolve))
  })

  it('a 250-recipient message to a carrier arrives in transactions and sessions of at most 100 recipients', async () => {
    const to = Array.from({ length: 250 }, (_, i) => `user${i}@docomo.ne.jp`)
    const res = await h.send(basicEmail({ to }))
    assert.equal(res.status, 202, JSON.stringify(res.body))
    const email = (await h.waitForEmail(res.body.id, (e) => TERMINAL.includes(e.status), 30_000)) as Email
    assert.equal(email.status, 'delivered')
    const sizes = carrier.received.map((m) => m.to.length)
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      250,
    )
    assert.ok(
      sizes.every((n) => n <= 100),
      `transactions of ${sizes.join(', ')} recipients`,
    )
    const perSession = [...rcptsBySession.values()]
    assert.ok(
      perSession.every((n) => n <= 100),
      `sessions with ${perSession.join(', ')} RCPTs`,
    )
  })

  it('a pooled connection gives way to a new one before it would carry more than 100 recipients', async () => {
    rcptsBySession.clear()
    for (const batch of [0, 1]) {
      const to = Array.from({ length: 60 }, (_, i) => `pool${batch}-${i}@docomo.ne.jp`)
      const res = await h.send(basicEmail({ to }))
      const email = (await h.waitForEmail(res.body.id, (e) => TERMINAL.includes(e.status), 30_000)) as Email
      assert.equal(email.status, 'delivered')
    }
    const perSession = [...rcptsBySession.values()]
    assert.deepEqual(perSession, [60, 60], 'two sessions of 60, not one of 120')
  })

  it('three connection resets in a row pause the destination', async () => {
    for (const n of [1, 2, 3]) {
      const res = await h.send(basicEmail({ to: `user${n}@reset.test` }))
      await waitFor(`attempt ${n} to be deferred`, async () => {
        const email = (await h.getEmail(res.body.id)) as Email
        return email.recipients[0]?.status === 'deferred' ? true : undefined
      })
    }
    assert.equal(resets, 3)
    const fourth = await h.send(basicEmail({ to: 'user4@reset.test' }))
    const waiting = await waitFor('the fourth to wait for the pause', async () => {
      const email = (await h.getEmail(fourth.body.id)) as Email
      return email.recipients[0]?.reason === 'waiting_rate_limit' ? email : undefined
    })
    assert.ok(!TERMINAL.includes(waiting.status))
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    assert.equal(resets, 3, 'no connection to a paused destination')
  })
})
