import assert from 'node:assert/strict'
import { Resolver } from 'node:dns/promises'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { dkimVerify } from 'mailauth/lib/dkim/verify.js'
import { generate } from 'selfsigned'
import { parseReturnPath, returnPath as signedReturnPath } from '../../src/modules/feedback/verp.js'
import { startDnsServer, type ZoneEntry } from '../helpers/dns-server.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, mxEnv, startHarness, TERMINAL } from '../helpers/harness.js'
import { freePort } from '../helpers/processes.js'
import { type Sink, type SinkScript, startSink } from '../helpers/smtp-sink.js'

type Recipient = { address: string; status: string; reason: string | null; next_attempt_at: string | null; attempts: number }
type Attempt = {
  remote_host: string | null
  outcome: string
  tls_version: string | null
  smtp_code: number | null
  enhanced_code: string | null
  phase: string
}
type Email = { status: string; recipients: Recipient[]; attempts: Attempt[] }

/**
 * Direct-to-MX delivery against real SMTP sinks on distinct loopback addresses (127.0.0.x, one
 * shared port) found through a loopback DNS server, with shaping from a SHAPING_CONFIG file.
 */
describe('MX delivery', () => {
  let dns: Awaited<ReturnType<typeof startDnsServer>>
  let port: number
  let h: Harness
  let dir: string
  const sinks: Record<string, Sink> = {}

  const sink = async (ip: string, script: SinkScript = {}, tls?: { key: string; cert: string }) => {
    sinks[ip] = await startSink(script, { host: ip, port, tls })
    return sinks[ip] as Sink
  }
  const mx = (...hosts: Array<[number, string]>): ZoneEntry => ({ MX: hosts.map(([priority, exchange]) => ({ priority, exchange })) })
  const send = async (to: string | string[]) => {
    const res = await h.send(basicEmail({ to }))
    assert.equal(res.status, 202, JSON.stringify(res.body))
    return res.body.id as string
  }
  const settled = (id: string, timeoutMs = 15_000) =>
    h.waitForEmail(id, (e) => TERMINAL.includes(e.status), timeoutMs) as Promise<unknown> as Promise<Email>

  before(async () => {
    port = await freePort()
    const pems = await generate([{ name: 'commonName', value: 'mx-tls.test' }], { keyType: 'ec', curve: 'P-256' })
    await sink('127.0.0.3')
    await sink('127.0.0.4')
    await sink('127.0.0.5')
    await sink('127.0.0.6')
    await sink('127.0.0.7', {}, { key: pems.private, cert: pems.cert })
    await sink('127.0.0.8')
    await sink('127.0.0.10', { data: () => ({ kind: 'stall', ms: 150 }) })
    await sink('127.0.0.11', { data: () => ({ kind: 'reject', code: 421, message: '4.7.0 Too many messages, slow down' }) })
    await sink('127.0.0.12')
    dns = await startDnsServer({
      'fallback.test': mx([10, 'mx1.fallback.test'], [20, 'mx2.fallback.test']),
      'mx1.fallback.test': { A: ['127.0.0.2'] }, // nothing listens there
      'mx2.fallback.test': { A: ['127.0.0.3'] },
      'pref.test': mx([20, 'low.pref.test'], [10, 'high.pref.test']),
      'high.pref.test': { A: ['127.0.0.4'] },
      'low.pref.test': { A: ['127.0.0.5'] },
      'implicit.test': { A: ['127.0.0.6'] },
      'nullmx.test': mx([0, '.']),
      'broken.test': { servfail: true },
      'tls.test': mx([10, 'mx.tls.test']),
      'mx.tls.test': { A: ['127.0.0.7'] },
      'verifytls.test': mx([10, 'mx.verifytls.test']),
      'mx.verifytls.test': { A: ['127.0.0.7'] },
      'requiretls.test': mx([10, 'mx.requiretls.test']),
      'mx.requiretls.test': { A: ['127.0.0.8'] },
      'slow.test': mx([10, 'mx.slow.test']),
      'mx.slow.test': { A: ['127.0.0.10'] },
      'throttled.test': mx([10, 'mx.throttled.test']),
      'mx.throttled.test': { A: ['127.0.0.11'] },
      'fine.test': mx([10, 'mx.fine.test']),
      'mx.fine.test': { A: ['127.0.0.12'] },
    })
    dir = mkdtempSync(join(tmpdir(), 'hikyaku-shaping-'))
    const shapingFile = join(dir, 'shaping.json')
    writeFileSync(
      shapingFile,
      JSON.stringify({
        domains: {
          'requiretls.test': { tls: 'require' },
          'verifytls.test': { tls: 'verify' },
          'slow.test': { maxConnections: 2 },
          'throttled.test': { pauseMs: 60_000 },
        },
      }),
    )
    h = await startHarness({
      env: mxEnv(port, dns.server, {
        SHAPING_CONFIG: shapingFile,
        WORKER_CONCURRENCY: '4',
        RETRY_SCHEDULE: '10m',
      }),
    })
  })
  after(async () => {
    await h.close()
    await dns.close()
    for (const s of Object.values(sinks)) await s.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('falls back to the next MX host when the preferred one refuses the connection; 2xx from an MX is delivered', async () => {
    const email = await settled(await send('user@fallback.test'))
    assert.equal(email.status, 'delivered')
    assert.match(email.attempts[0]?.remote_host ?? '', /^mx2\.fallback\.test \[127\.0\.0\.3\]/)
    assert.equal(sinks['127.0.0.3']?.received.length, 1)
  })

  it('uses the lowest preference first', async () => {
    await settled(await send('user@pref.test'))
    assert.equal(sinks['127.0.0.4']?.received.length, 1)
    assert.equal(sinks['127.0.0.5']?.received.length, 0)
  })

  it('delivers to the domain itself when it has no MX (implicit MX)', async () => {
    const email = await settled(await send('user@implicit.test'))
    assert.equal(email.status, 'delivered')
    assert.equal(sinks['127.0.0.6']?.received.length, 1)
  })

  it('bounces on a null MX and on a domain that does not exist, without connecting anywhere', async () => {
    const before = Object.values(sinks).reduce((n, s) => n + s.connections, 0)
    const nullMx = await settled(await send('user@nullmx.test'))
    const missing = await settled(await send('user@nowhere.test'))
    assert.equal(nullMx.status, 'bounced')
    assert.equal(nullMx.attempts[0]?.enhanced_code, '5.1.10')
    assert.equal(missing.status, 'bounced')
    assert.equal(missing.attempts[0]?.enhanced_code, '5.1.2')
    assert.equal(
      Object.values(sinks).reduce((n, s) => n + s.connections, 0),
      before,
    )
  })

  it('defers on SERVFAIL', async () => {
    const id = await send('user@broken.test')
    const email = (await h.waitForEmail(id, (e) => e.status === 'deferred')) as unknown as Email
    assert.equal(email.recipients[0]?.reason, 'waiting_retry')
    assert.equal(email.attempts[0]?.phase, 'dns')
  })

  it('uses STARTTLS when offered and records the TLS version', async () => {
    const email = await settled(await send('user@tls.test'))
    assert.equal(email.status, 'delivered')
    assert.match(email.attempts[0]?.tls_version ?? '', /^TLSv1\.[23]$/)
    assert.equal(sinks['127.0.0.7']?.received[0]?.secure, true)
  })

  it('with tls=require, a host without STARTTLS gets nothing: deferred, no plaintext', async () => {
    const id = await send('user@requiretls.test')
    const email = (await h.waitForEmail(id, (e) => e.status === 'deferred')) as unknown as Email
    assert.equal(email.attempts[0]?.phase, 'tls')
    assert.equal(sinks['127.0.0.8']?.received.length, 0)
  })

  it('with tls=verify, a certificate that does not validate gets nothing: deferred', async () => {
    const before = sinks['127.0.0.7']?.received.length
    const id = await send('user@verifytls.test')
    const email = (await h.waitForEmail(id, (e) => e.status === 'deferred')) as unknown as Email
    assert.equal(email.attempts[0]?.phase, 'tls')
    assert.equal(sinks['127.0.0.7']?.received.length, before)
  })

  it('never exceeds the per-domain connection limit (maxConnections 2)', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => send(`user${i}@slow.test`)))
    for (const id of ids) assert.equal((await settled(id, 30_000)).status, 'delivered')
    assert.equal(sinks['127.0.0.10']?.received.length, 8)
    assert.ok((sinks['127.0.0.10']?.maxConcurrent ?? 0) <= 2, `at most 2 sessions at once (saw ${sinks['127.0.0.10']?.maxConcurrent})`)
  })

  it("signs with the sending domain's DKIM keys (verified independently against the published TXT) and uses a VERP return path", async () => {
    const created = await h.request('POST', '/v1/domains', { payload: { name: 'signed.test' } })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const records = created.body.records as Array<{ purpose: string; type: string; name: string; value: string }>
    const dkim = records.find((r) => r.purpose === 'dkim')
    const returnPath = records.find((r) => r.purpose === 'return-path' && r.type === 'MX')
    assert.ok(dkim && returnPath)
    // VERP is used once the return-path MX is published and checked.
    const [priority, exchange] = returnPath.value.split(' ')
    dns.set({
      [dkim.name]: { TXT: [dkim.value] },
      [returnPath.name]: { MX: [{ priority: Number(priority), exchange: exchange as string }] },
    })
    const verified = await h.request('POST', `/v1/domains/${created.body.id}/verify`)
    assert.equal(verified.status, 200, JSON.stringify(verified.body))
    const res = await h.send(basicEmail({ from: 'News <news@signed.test>', to: 'reader@fine.test', subject: 'Signed' }))
    const email = await settled(res.body.id)
    assert.equal(email.status, 'delivered')
    const message = sinks['127.0.0.12']?.received.find((m) => m.to.includes('reader@fine.test'))
    assert.ok(message)
    const resolver = new Resolver()
    resolver.setServers([dns.server])
    const { results } = await dkimVerify(message.raw, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') })
    assert.deepEqual(
      results.map((r: { status: { result: string } }) => r.status.result),
      ['pass'],
    )
    const { rows } = await h.container.pool.query('SELECT delivery_id FROM recipients WHERE email_id = $1', [res.body.id])
    // The signed return path names this delivery, and only a tag made with the secret verifies.
    assert.equal(message.from, signedReturnPath(h.config.secret, rows[0].delivery_id, 'bounces.signed.test'))
    assert.deepEqual(parseReturnPath(h.config.secret, message.from), { deliveryId: rows[0].delivery_id })
    assert.equal(parseReturnPath(`${h.config.secret}x`, message.from), undefined)
  })

  it('pauses a domain that answers 421 without holding workers: other domains flow, and its recipients say why and until when', async () => {
    const throttled = await Promise.all(Array.from({ length: 6 }, (_, i) => send(`user${i}@throttled.test`)))
    await waitFor('the first throttling reply', () => ((sinks['127.0.0.11']?.connections ?? 0) > 0 ? true : undefined))
    const started = Date.now()
    const fine = await settled(await send('user@fine.test'))
    assert.equal(fine.status, 'delivered')
    assert.ok(Date.now() - started < 5_000, `the other domain was not held up (${Date.now() - started} ms)`)
    const waiting = await waitFor('every throttled recipient to show the pause', async () => {
      const emails = (await Promise.all(throttled.map((id) => h.getEmail(id)))) as Email[]
      const recipients = emails.flatMap((e) => e.recipients)
      return recipients.every((r) => r.reason === 'waiting_rate_limit' && r.next_attempt_at) ? recipients : undefined
    })
    for (const r of waiting)
      assert.ok(new Date(r.next_attempt_at as string).getTime() > Date.now() + 30_000, 'paused for the configured time')
    const connectionsAtPause = sinks['127.0.0.11']?.connections
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    assert.equal(sinks['127.0.0.11']?.connections, connectionsAtPause, 'the paused domain gets no further connections')
  })
})

describe('MX delivery refuses private addresses unless allowed', () => {
  let dns: Awaited<ReturnType<typeof startDnsServer>>
  let h: Harness
  let trap: Sink

  before(async () => {
    const port = await freePort()
    trap = await startSink({}, { host: '127.0.0.13', port })
    dns = await startDnsServer({
      'internal.test': { MX: [{ priority: 10, exchange: 'mx.internal.test' }] },
      'mx.internal.test': { A: ['127.0.0.13'] },
    })
    h = await startHarness({ env: { DELIVERY_MODE: 'mx', MX_PORT: String(port), DNS_SERVERS: dns.server, DNS_TIMEOUT: '1s' } })
  })
  after(async () => {
    await h.close()
    await dns.close()
    await trap.close()
  })

  it('an MX on a loopback address fails the recipient without a connection', async () => {
    const res = await h.send(basicEmail({ to: 'user@internal.test' }))
    const email = (await h.waitForEmail(res.body.id, (e) => TERMINAL.includes(e.status))) as unknown as Email
    assert.equal(email.status, 'failed')
    assert.equal(trap.connections, 0)
  })
})
