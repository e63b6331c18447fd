import assert from 'node:assert/strict'
import { type AddressInfo, createServer, type Server } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { dkimVerify } from 'mailauth/lib/dkim/verify.js'
import { basicEmail, type Harness, startHarness, TERMINAL } from '../helpers/harness.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

/**
 * Outcomes per SMTP reply, end to end: HTTP accept → Postgres → BullMQ → worker → SMTP sink →
 * recorded status, attempts and events. The sink decides its answer by recipient address.
 */
describe('delivery outcomes', () => {
  let sink: Sink
  let h: Harness
  const dataCalls = new Map<string, number>()

  before(async () => {
    sink = await startSink({
      rcpt: (address) => (address.startsWith('unknown') ? { code: 550, message: '5.1.1 No such user' } : undefined),
      data: (message) => {
        const to = message.to[0] ?? ''
        const n = (dataCalls.get(to) ?? 0) + 1
        dataCalls.set(to, n)
        if (to.startsWith('grey') && n === 1) return { kind: 'reject', code: 451, message: '4.7.1 Greylisted, try again' }
        if (to.startsWith('drop') && n === 1) return { kind: 'drop' }
        if (to.startsWith('always-busy')) return { kind: 'reject', code: 452, message: '4.3.1 Insufficient system storage' }
        return { kind: 'accept' }
      },
    })
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url, RETRY_SCHEDULE: '200ms', MAX_DELIVERY_AGE: '3s' } })
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  const done = (email: { status: string }) => TERMINAL.includes(email.status)

  it('250 → sent, with the attempt and the remote reply recorded', async () => {
    const res = await h.send(basicEmail({ to: 'ok@example.net', tags: { campaign: 'spring' } }))
    assert.equal(res.status, 202)
    assert.equal(res.body.status, 'queued')
    const email = await h.waitForEmail(res.body.id, done)
    assert.equal(email.status, 'sent')
    const [recipient] = email.recipients as Array<Record<string, unknown>>
    assert.equal(recipient?.status, 'sent')
    assert.equal(recipient?.attempts, 1)
    const attempts = email.attempts as Array<Record<string, unknown>>
    assert.equal(attempts.length, 1)
    assert.equal(attempts[0]?.smtp_code, 250)
    assert.equal(attempts[0]?.outcome, 'sent')
    assert.match(String(attempts[0]?.reply), /queued as sink-/)
    const types = (email.events as Array<{ type: string; tags: Record<string, string> }>).map((e) => e.type)
    assert.deepEqual(types, ['email.queued', 'email.sent'])
    assert.deepEqual((email.events as Array<{ tags: Record<string, string> }>)[1]?.tags, { campaign: 'spring' })
    const delivered = sink.received.find((m) => m.to.includes('ok@example.net'))
    assert.ok(delivered, 'the sink got the message')
    assert.match(delivered.raw.toString(), /^Subject: Hello$/m)
  })

  it('550 → bounced after exactly one attempt', async () => {
    const res = await h.send(basicEmail({ to: 'unknown@example.net' }))
    const email = await h.waitForEmail(res.body.id, done)
    assert.equal(email.status, 'bounced')
    const [recipient] = email.recipients as Array<{ attempts: number; last_reply: { code: number; enhanced_code: string } }>
    assert.equal(recipient?.attempts, 1)
    assert.deepEqual([recipient?.last_reply.code, recipient?.last_reply.enhanced_code], [550, '5.1.1'])
    // Give a wrong retry a chance to happen before checking it did not.
    await new Promise((resolve) => setTimeout(resolve, 600))
    assert.equal(((await h.getEmail(res.body.id)).attempts as unknown[]).length, 1)
  })

  it('451 then 250 → sent after one retry', async () => {
    const res = await h.send(basicEmail({ to: 'grey@example.net' }))
    const email = await h.waitForEmail(res.body.id, done)
    assert.equal(email.status, 'sent')
    const attempts = email.attempts as Array<{ outcome: string; smtp_code: number }>
    assert.deepEqual(
      attempts.map((a) => [a.outcome, a.smtp_code]),
      [
        ['deferred', 451],
        ['sent', 250],
      ],
    )
    const types = (email.events as Array<{ type: string }>).map((e) => e.type)
    assert.deepEqual(types, ['email.queued', 'email.deferred', 'email.sent'])
  })

  it('a connection dropped after the final dot → retried and flagged as a possible duplicate', async () => {
    const res = await h.send(basicEmail({ to: 'drop@example.net' }))
    const email = await h.waitForEmail(res.body.id, done)
    assert.equal(email.status, 'sent')
    const [recipient] = email.recipients as Array<{ possible_duplicate: boolean; attempts: number }>
    assert.equal(recipient?.possible_duplicate, true)
    assert.equal(recipient?.attempts, 2)
    const attempts = email.attempts as Array<{ phase: string; outcome: string }>
    assert.deepEqual(attempts[0], { ...attempts[0], phase: 'after_data', outcome: 'deferred' })
    assert.equal(sink.received.filter((m) => m.to.includes('drop@example.net')).length, 2)
  })

  it('a 4xx that never clears → expired once MAX_DELIVERY_AGE has passed', async () => {
    const res = await h.send(basicEmail({ to: 'always-busy@example.net' }))
    const email = await h.waitForEmail(res.body.id, done, 20_000)
    assert.equal(email.status, 'expired')
    const attempts = email.attempts as Array<{ outcome: string }>
    assert.ok(attempts.length >= 3, `several attempts before giving up (got ${attempts.length})`)
    // The last try may be the worker's (its outcome then says expired) or the sweeper may expire
    // the recipient at the deadline first; either way every attempt met the same 452.
    assert.ok(
      attempts.every((a) => ['deferred', 'expired'].includes(a.outcome)),
      JSON.stringify(attempts),
    )
    const types = (email.events as Array<{ type: string }>).map((e) => e.type)
    assert.equal(types.at(-1), 'email.expired')
  })

  it('DKIM-signs mail from a sending domain in relay mode too, verifiably', async () => {
    const created = await h.request('POST', '/v1/domains', { payload: { name: 'relay-signed.test' } })
    const dkim = (created.body.records as Array<{ purpose: string; name: string; value: string }>).find((r) => r.purpose === 'dkim')
    assert.ok(dkim)
    const res = await h.send(basicEmail({ from: 'news@relay-signed.test', to: 'signed@example.net' }))
    assert.equal((await h.waitForEmail(res.body.id, done)).status, 'sent')
    const message = sink.received.find((m) => m.to.includes('signed@example.net'))
    assert.ok(message)
    const resolver = async (name: string) =>
      name === dkim.name ? [[dkim.value]] : Promise.reject(Object.assign(new Error('NXDOMAIN'), { code: 'ENOTFOUND' }))
    const { results } = await dkimVerify(message.raw, { resolver })
    assert.deepEqual(
      results.map((r: { status: { result: string } }) => r.status.result),
      ['pass'],
    )
    assert.equal(message.from, 'news@relay-signed.test', 'relay mode keeps the envelope sender')
  })

  it('a DKIM key that no longer opens → failed at once with a clear reason, not deferred for days', async () => {
    const created = await h.request('POST', '/v1/domains', { payload: { name: 'broken-key.test' } })
    assert.equal(created.status, 201)
    // As after HIKYAKU_SECRET was changed: the sealed key is there but cannot be opened.
    await h.container.pool.query("UPDATE domains SET dkim_private_key = 'v2.AAAA.AAAA.AAAA' WHERE name = 'broken-key.test'")
    const res = await h.send(basicEmail({ from: 'news@broken-key.test', to: 'unsigned@example.net' }))
    const email = await h.waitForEmail(res.body.id, done)
    assert.equal(email.status, 'failed')
    const attempts = email.attempts as Array<{ outcome: string; reply: string }>
    assert.equal(attempts.length, 1)
    assert.match(attempts[0]?.reply ?? '', /DKIM signing key of broken-key\.test cannot be used/)
    assert.doesNotMatch(attempts[0]?.reply ?? '', /HIKYAKU_SECRET|decrypt/)
    assert.equal(sink.received.filter((m) => m.to.includes('unsigned@example.net')).length, 0, 'never sent unsigned')
  })
})

describe('a receiver whose reply no database column can hold as is', () => {
  let server: Server
  let h: Harness

  before(async () => {
    // Raw bytes, as a hostile MX may send them: a NUL and a byte that is not UTF-8 in the reply.
    server = createServer((socket) => {
      socket.on('error', () => {})
      socket.write('220 odd.test ESMTP\r\n')
      socket.on('data', (chunk) => {
        for (const line of chunk.toString('latin1').split('\r\n').filter(Boolean)) {
          const verb = line.slice(0, 4).toUpperCase()
          if (verb === 'EHLO') socket.write('250 odd.test\r\n')
          else if (verb === 'MAIL') socket.write('250 ok\r\n')
          else if (verb === 'RCPT')
            socket.write(Buffer.concat([Buffer.from('550 5.1.1 no\u0000such '), Buffer.from([0xff]), Buffer.from(' user\r\n')]))
          else if (verb === 'QUIT') socket.end('221 bye\r\n')
          else socket.write('250 ok\r\n')
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    h = await startHarness({ env: { SMTP_RELAY_URL: `smtp://127.0.0.1:${(server.address() as AddressInfo).port}` } })
  })
  after(async () => {
    await h.close()
    await new Promise((resolve) => server.close(resolve))
  })

  it('stores the reply cleaned, and the recipient still ends (bounced)', async () => {
    const res = await h.send(basicEmail({ to: 'odd-reply@example.net' }))
    const email = await h.waitForEmail(res.body.id, (e) => TERMINAL.includes(e.status))
    assert.equal(email.status, 'bounced')
    const attempts = email.attempts as Array<{ reply: string }>
    assert.equal(attempts.length, 1)
    assert.ok(!(attempts[0]?.reply ?? '').includes('\u0000'), 'no NUL is stored')
    assert.match(attempts[0]?.reply ?? '', /such/)
  })
})
