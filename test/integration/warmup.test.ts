import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startDnsServer } from '../helpers/dns-server.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, mxEnv, startHarness, TERMINAL } from '../helpers/harness.js'
import { freePort } from '../helpers/processes.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

type Email = {
  status: string
  recipients: Array<{ status: string; reason: string | null; next_attempt_at: string | null; attempts: number }>
  attempts: unknown[]
}

/** A warm-up schedule caps a destination's mail per day; what is over waits for the next day, spending no attempt. */
describe('warm-up caps in MX mode', () => {
  let dns: Awaited<ReturnType<typeof startDnsServer>>
  let h: Harness
  let sink: Sink
  let dir: string

  before(async () => {
    const port = await freePort()
    sink = await startSink({}, { host: '127.0.0.44', port })
    dns = await startDnsServer({ 'warm.test': { MX: [{ priority: 10, exchange: 'mx.warm.test' }] }, 'mx.warm.test': { A: ['127.0.0.44'] } })
    dir = mkdtempSync(join(tmpdir(), 'hikyaku-warmup-'))
    const shaping = join(dir, 'shaping.json')
    writeFileSync(shaping, JSON.stringify({ domains: { 'warm.test': { warmup: [2, 4, 8] } } }))
    h = await startHarness({
      env: mxEnv(port, dns.server, {
        SHAPING_CONFIG: shaping,
        WORKER_CONCURRENCY: '1',
        // Long enough to wait for tomorrow: a wait never outlasts the message.
        MAX_DELIVERY_AGE: '3d',
      }),
    })
  })
  after(async () => {
    await h.close()
    await dns.close()
    await sink.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("sends today's cap, and holds the rest until tomorrow with a reason, no attempt spent", async () => {
    const ids: string[] = []
    for (const n of [1, 2, 3]) {
      const res = await h.send(basicEmail({ to: `user${n}@warm.test` }))
      assert.equal(res.status, 202)
      ids.push(res.body.id)
    }
    const [first, second, third] = ids as [string, string, string]
    for (const id of [first, second]) await h.waitForEmail(id, (e) => TERMINAL.includes(e.status))
    const held = (await waitFor('the third to wait for tomorrow', async () => {
      const email = (await h.getEmail(third)) as Email
      return email.recipients[0]?.reason === 'warming_up' ? email : undefined
    })) as Email
    assert.equal(sink.received.length, 2)
    assert.deepEqual(held.attempts, [], 'waiting for the cap spends no attempt')
    const next = new Date(held.recipients[0]?.next_attempt_at as string)
    const midnight = new Date()
    midnight.setUTCHours(24, 0, 0, 0)
    const late = next.getTime() - midnight.getTime()
    assert.ok(late >= 0 && late <= 10 * 60_000, `waits for the first minutes of the next UTC day (${next.toISOString()})`)
  })
})
