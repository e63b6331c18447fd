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

type Recipient = { address: string; status: string; reason: string | null; next_attempt_at: string | null }
type Email = { status: string; recipients: Recipient[]; events: Array<{ type: string; data: Record<string, unknown> }> }

/**
 * The providers' replies, as loopback MX sinks give them, read by the reply rules: the MX host
 * names (served by a loopback DNS server) put each domain in a provider's profile.
 */
describe('reply rules in MX mode', () => {
  let dns: Awaited<ReturnType<typeof startDnsServer>>
  let h: Harness
  const sinks: Record<string, Sink> = {}
  let unsignedTries = 0
  let briefTries = 0
  let dir: string

  before(async () => {
    const port = await freePort()
    const banned =
      '5.7.606 Access denied, banned sending IP [127.0.0.1]. To request removal from this list please visit https://sender.office.com/'
    const tenantBlock =
      '5.7.1 Service unavailable; Client host [127.0.0.1] blocked using Customer Block list (AS16012607). To request removal from this list, please forward this message to delist@messaging.microsoft.com'
    sinks.microsoft = await startSink(
      {
        rcpt: (address) => {
          if (address.endsWith('@blocking.test')) return { code: 550, message: tenantBlock }
          if (address.endsWith('@tenant.test')) return { code: 550, message: banned }
          return undefined
        },
      },
      { host: '127.0.0.31', port },
    )
    sinks.yahoo = await startSink(
      {
        data: (_m, index) =>
          index === 0
            ? { kind: 'reject', code: 421, message: 'Max message per connection reached, closing transmission channel' }
            : { kind: 'accept' },
      },
      { host: '127.0.0.32', port },
    )
    sinks.google = await startSink(
      {
        data: (m) => {
          // A sender refused once, briefly (an operator's rule with a short hold), then accepted.
          if (/^From:.*@brief\.example>?\s*$/im.test(m.raw.toString()) && briefTries++ === 0)
            return { kind: 'reject', code: 451, message: '4.7.1 Short hold for this test - gsmtp' }
          if (!/^From:.*@unsigned\.example>?\s*$/im.test(m.raw.toString())) return { kind: 'accept' }
          unsignedTries++
          return { kind: 'reject', code: 421, message: '4.7.30 This mail has been rate limited because DKIM does not pass. - gsmtp' }
        },
      },
      { host: '127.0.0.33', port },
    )
    const mx = (exchange: string) => ({ MX: [{ priority: 10, exchange }] })
    dns = await startDnsServer({
      'tenant.test': mx('tenant-test.mail.protection.outlook.com'),
      'tenant-test.mail.protection.outlook.com': { A: ['127.0.0.31'] },
      'blocking.test': mx('blocking-test.mail.protection.outlook.com'),
      'open.test': mx('open-test.mail.protection.outlook.com'),
      'blocking-test.mail.protection.outlook.com': { A: ['127.0.0.31'] },
      'open-test.mail.protection.outlook.com': { A: ['127.0.0.31'] },
      'yahoo-hosted.test': mx('mta5.am0.yahoodns.net'),
      'mta5.am0.yahoodns.net': { A: ['127.0.0.32'] },
      'workspace.test': mx('aspmx.l.google.com'),
      'aspmx.l.google.com': { A: ['127.0.0.33'] },
    })
    dir = mkdtempSync(join(tmpdir(), 'hikyaku-rules-'))
    const shaping = join(dir, 'shaping.json')
    const rule = { id: 'test.short_hold', providers: ['google'], code: 451, text: 'Short hold', class: 'sender_config', pauseMs: 1_500 }
    writeFileSync(shaping, JSON.stringify({ rules: [rule] }))
    h = await startHarness({
      env: mxEnv(port, dns.server, {
        WORKER_CONCURRENCY: '4',
        RETRY_SCHEDULE: '10m',
        SHAPING_CONFIG: shaping,
      }),
    })
  })
  after(async () => {
    await h.close()
    await dns.close()
    for (const s of Object.values(sinks)) await s.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const send = async (to: string, from = 'Sender <sender@example.com>') => {
    const res = await h.send(basicEmail({ to, from }))
    assert.equal(res.status, 202, JSON.stringify(res.body))
    return res.body.id as string
  }
  const recipientOf = async (id: string, want: (r: Recipient) => boolean) =>
    waitFor(`email ${id} to reach the expected state`, async () => {
      const email = (await h.getEmail(id)) as Email
      return email.recipients[0] && want(email.recipients[0]) ? email : undefined
    })

  it("a Microsoft 365 tenant's own block list holds only that domain's mail: Microsoft is not paused", async () => {
    const email = await recipientOf(await send('first@blocking.test'), (r) => r.status === 'deferred')
    assert.equal(email.recipients[0]?.reason, 'destination_blocked')
    assert.equal(email.events.find((e) => e.type === 'email.deferred')?.data.rule, 'microsoft.tenant_block')
    const next = new Date(email.recipients[0]?.next_attempt_at as string).getTime()
    assert.ok(next > Date.now() + 30 * 60_000, `the domain is held for long (${email.recipients[0]?.next_attempt_at})`)

    // The next message to that domain waits before connecting, with the reason, and no attempt.
    const connections = sinks.microsoft?.connections
    const second = await recipientOf(await send('second@blocking.test'), (r) => r.reason === 'destination_blocked')
    assert.equal(second.recipients[0]?.status, 'queued', 'held before any attempt')
    assert.equal(sinks.microsoft?.connections, connections, 'no connection for a held domain')
    // Another tenant at the same provider is not held.
    await recipientOf(await send('user@open.test'), (r) => r.status === 'delivered')
  })

  it('a banned sending IP (Microsoft 5.7.606) defers the mail as destination_blocked, suppresses nobody, and pauses the destination', async () => {
    const email = await recipientOf(await send('first@tenant.test'), (r) => r.status === 'deferred')
    assert.equal(email.recipients[0]?.reason, 'destination_blocked')
    const deferred = email.events.find((e) => e.type === 'email.deferred')
    assert.equal(deferred?.data.rule, 'microsoft.blocked')
    assert.equal(deferred?.data.rule_class, 'policy_block')
    const next = new Date(email.recipients[0]?.next_attempt_at as string).getTime()
    // Far past the 10-minute retry schedule: the block's long pause (or the message's expiry, if sooner).
    assert.ok(next > Date.now() + 30 * 60_000, `the block holds the mail back (${email.recipients[0]?.next_attempt_at})`)
    const suppressions = await h.request('GET', '/v1/suppressions')
    assert.equal(suppressions.status, 200)
    assert.deepEqual(suppressions.body.data, [], 'a block on our IP is not the address’s fault')

    // The destination is paused: the next message to it does not connect.
    const connections = sinks.microsoft?.connections
    const second = await send('second@tenant.test')
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    assert.equal(sinks.microsoft?.connections, connections, 'no connection to a blocked destination')
    assert.ok(!TERMINAL.includes(((await h.getEmail(second)) as Email).status))
  })

  it("Yahoo's per-connection cap only reconnects: the message goes again at once, and Yahoo is not paused", async () => {
    const started = Date.now()
    const email = await recipientOf(await send('user@yahoo-hosted.test'), (r) => r.status === 'delivered')
    assert.ok(Date.now() - started < 10_000, `delivered on the quick retry (${Date.now() - started} ms), not after a pause`)
    const deferred = email.events.find((e) => e.type === 'email.deferred')
    assert.equal(deferred?.data.rule_class, 'reconnect')
    assert.equal(sinks.yahoo?.received.length, 1, 'the refused message is not counted as received')
  })

  it("a DKIM failure holds that sending domain's mail at Gmail, uncounted, and not another sender's", async () => {
    const failing = await recipientOf(await send('a@workspace.test', 'Unsigned <news@unsigned.example>'), (r) => r.status === 'deferred')
    assert.equal(failing.recipients[0]?.reason, 'sender_config')
    const deferred = failing.events.find((e) => e.type === 'email.deferred')
    assert.equal(deferred?.data.rule, 'google.authentication')
    assert.equal(deferred?.data.rule_class, 'sender_config')
    assert.equal(unsignedTries, 1)

    // The same sender's next message to Google waits for the hold, without an attempt.
    const held = await recipientOf(await send('c@workspace.test', 'Unsigned <news@unsigned.example>'), (r) => r.reason === 'sender_config')
    assert.equal(held.recipients[0]?.status, 'queued', 'the claim was undone: no attempt counted')
    assert.ok(new Date(held.recipients[0]?.next_attempt_at as string).getTime() > Date.now() + 20 * 60_000)
    assert.equal(held.events.filter((e) => e.type === 'email.deferred').length, 0)
    assert.equal(unsignedTries, 1, 'Gmail did not see the held message')

    // Another sender's mail to Google goes at once.
    const started = Date.now()
    await recipientOf(await send('b@workspace.test'), (r) => r.status === 'delivered')
    assert.ok(Date.now() - started < 5_000, `the other sender's mail went at once (${Date.now() - started} ms)`)
  })

  it("when a sender's hold ends, its next message goes (the hold's probe), and so does the rest", async () => {
    const from = 'Brief <news@brief.example>'
    const refused = await recipientOf(await send('p1@workspace.test', from), (r) => r.status === 'deferred')
    assert.equal(refused.events.find((e) => e.type === 'email.deferred')?.data.rule, 'test.short_hold')
    // Held for 1.5 s: a message sent meanwhile waits for it, then probes it.
    const probe = await send('p2@workspace.test', from)
    await recipientOf(probe, (r) => r.status === 'delivered')
    const started = Date.now()
    await recipientOf(await send('p3@workspace.test', from), (r) => r.status === 'delivered')
    assert.ok(Date.now() - started < 5_000, `the probe's success lifted the hold (${Date.now() - started} ms)`)
    assert.equal(briefTries, 3)
  })

  it('the destinations view shows what fired: pauses to every account, a sender hold only to its own account', async () => {
    type Dest = {
      destination: string
      paused_until: string | null
      last_rule: { id: string; class: string | null } | null
      held_senders: Array<{ domain: string; until: string }>
      held_recipient_domains: number
      connections: number
      waiting: number
      max_connections: number
      last_reply: { text: string; at: string } | null
    }
    const view = async (headers?: Record<string, string>) => {
      const res = await h.request('GET', '/v1/destinations', headers ? { headers } : {})
      assert.equal(res.status, 200, JSON.stringify(res.body))
      return new Map((res.body.data as Dest[]).map((d) => [d.destination, d]))
    }
    const mine = await view()
    const microsoft = mine.get('microsoft')
    assert.ok(microsoft?.paused_until && new Date(microsoft.paused_until).getTime() > Date.now() + 30 * 60_000)
    assert.deepEqual(microsoft?.last_rule && { id: microsoft.last_rule.id, class: microsoft.last_rule.class }, {
      id: 'microsoft.blocked',
      class: 'policy_block',
    })
    assert.equal(microsoft?.held_recipient_domains, 1, 'counted, not named: it would tell where other accounts send')
    assert.match(
      microsoft?.last_reply?.text ?? '',
      /^550 5\.7\.606 Access denied, banned sending IP/,
      'the throttling reply, word for word',
    )
    assert.equal(microsoft?.connections, 0, 'no connection is open to a paused destination')
    assert.ok((microsoft?.waiting ?? 0) >= 1, `this account's mail waits for it (${microsoft?.waiting})`)
    assert.ok((microsoft?.max_connections ?? 0) > 0)
    const google = mine.get('google')
    assert.equal(google?.paused_until, null, 'one sender’s authentication does not pause Google')
    assert.deepEqual(
      google?.held_senders.map((s) => s.domain),
      ['unsigned.example'],
    )

    const other = await h.container.services.accounts.create('Another sender')
    const theirs = await view({ authorization: `Bearer ${other.key}` })
    assert.deepEqual(theirs.get('google')?.held_senders, [], "another account does not see this account's sending domains")
    assert.equal(theirs.get('microsoft')?.last_rule?.id, 'microsoft.blocked', 'a pause about our IP is shown to everyone')
    assert.equal(theirs.get('microsoft')?.waiting, 0, "another account's backlog is not shown")
  })
})
