import assert from 'node:assert/strict'
import { Resolver } from 'node:dns/promises'
import { after, before, describe, it } from 'node:test'
import { dkimVerify } from 'mailauth/lib/dkim/verify.js'
import { simpleParser } from 'mailparser'
import nodemailer from 'nodemailer'
import { startInbound } from '../../src/smtp/inbound.server.js'
import { loadSmtpTls } from '../../src/smtp/tls.js'
import { startDnsServer, zoneFor } from '../helpers/dns-server.js'
import { basicEmail, type Harness, startHarness, TERMINAL } from '../helpers/harness.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

/**
 * One-click unsubscribe by construction (RFC 8058): broadcast mail from a verified domain reaches
 * a real SMTP sink with both List-Unsubscribe fields signed by DKIM (checked by an independent
 * verifier); the link's GET unsubscribes nobody, its POST does, for that stream only.
 */
describe('one-click unsubscribe', () => {
  let sink: Sink
  let dns: Awaited<ReturnType<typeof startDnsServer>>
  let h: Harness

  before(async () => {
    sink = await startSink()
    dns = await startDnsServer()
    h = await startHarness({
      env: {
        SMTP_RELAY_URL: sink.url,
        DNS_SERVERS: dns.server,
        DNS_TIMEOUT: '1s',
        BOUNCE_MX_HOST: 'bounce.hikyaku.test',
        PUBLIC_URL: 'https://mail.hikyaku.test/',
      },
    })
    const created = await h.request('POST', '/v1/domains', { payload: { name: 'news.example.com' } })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    dns.set(zoneFor(created.body.records))
    const verified = await h.request('POST', `/v1/domains/${created.body.id}/verify`)
    assert.equal(verified.body.status, 'verified', JSON.stringify(verified.body))
  })
  after(async () => {
    await h.close()
    await sink.close()
    await dns.close()
  })

  const delivered = async (id: string) => {
    const email = await h.waitForEmail(id, (e) => TERMINAL.includes(e.status))
    assert.equal(email.status, 'sent', JSON.stringify(email))
    const message = sink.received.find((m) => m.raw.toString().includes(id))
    assert.ok(message, 'the message reached the sink')
    return message
  }

  let link = ''
  let mailto = ''

  it('broadcast mail carries both fields, inside h= of a DKIM signature an independent verifier accepts', async () => {
    const res = await h.send(basicEmail({ from: 'News <hello@news.example.com>', to: 'reader@example.net', stream: 'broadcast' }))
    assert.equal(res.status, 202, JSON.stringify(res.body))
    const message = await delivered(res.body.id)
    const mail = await simpleParser(message.raw)
    const header = String(mail.headerLines.find((l) => l.key === 'list-unsubscribe')?.line)
    const found = header.match(
      /<(https:\/\/mail\.hikyaku\.test\/unsubscribe\/[0-9a-f]{32}-[a-z2-7]{16})>, <mailto:(unsubscribe\+[^@]+@bounces\.news\.example\.com)\?subject=unsubscribe>/,
    )
    assert.ok(found, header)
    link = found[1] as string
    mailto = found[2] as string
    assert.equal(mail.headerLines.find((l) => l.key === 'list-unsubscribe-post')?.line, 'List-Unsubscribe-Post: List-Unsubscribe=One-Click')

    const resolver = new Resolver()
    resolver.setServers([dns.server])
    const { results } = await dkimVerify(message.raw, {
      resolver: async (name: string, type: string) => {
        if (type !== 'TXT') throw Object.assign(new Error(`no ${type} lookups here`), { code: 'ENOTFOUND' })
        return resolver.resolveTxt(name)
      },
    })
    assert.equal(results[0]?.status.result, 'pass', JSON.stringify(results[0]?.status))
    // The h= of the signature that passed (the first; unfolded).
    const field =
      message.raw
        .toString()
        .split(/\r\n(?![ \t])/)
        .find((l) => /^dkim-signature:/i.test(l)) ?? ''
    const signed = (field.replace(/\s+/g, '').match(/;h=([^;]+)/)?.[1] ?? '').toLowerCase().split(':')
    assert.ok(signed.includes('list-unsubscribe') && signed.includes('list-unsubscribe-post'), signed.join(':'))
  })

  it('transactional mail carries none; a caller may supply their own', async () => {
    const plain = await delivered((await h.send(basicEmail({ from: 'hello@news.example.com', to: 'reader@example.net' }))).body.id)
    assert.ok(!/^list-unsubscribe/im.test(plain.raw.toString()))
    const own = await h.send(
      basicEmail({
        from: 'hello@news.example.com',
        to: 'own@example.net',
        stream: 'broadcast',
        headers: { 'List-Unsubscribe': '<https://example.com/u/1>' },
      }),
    )
    const raw = (await delivered(own.body.id)).raw.toString()
    assert.equal(raw.match(/^list-unsubscribe:/gim)?.length, 1)
    assert.match(raw, /List-Unsubscribe: <https:\/\/example\.com\/u\/1>/)
  })

  it('GET shows a confirmation and unsubscribes nobody; POST unsubscribes, for broadcast only', async () => {
    const path = new URL(link).pathname
    const page = await h.app.inject({ method: 'GET', url: path })
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /<form method="post">/)
    assert.match(page.headers['content-security-policy'] as string, /default-src 'none'/)
    assert.equal((await h.request('GET', '/v1/suppressions')).body.data.length, 0, 'a GET unsubscribes nobody')

    const forged = await h.app.inject({ method: 'POST', url: `${path.slice(0, -1)}a` })
    assert.equal(forged.statusCode, 404)

    const post = await h.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    })
    assert.equal(post.statusCode, 200)
    assert.match(post.body, /You are unsubscribed/)
    const again = await h.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      payload: '--x--',
    })
    assert.equal(again.statusCode, 200, 'a second click is fine')

    const list = (await h.request('GET', '/v1/suppressions')).body.data
    assert.equal(list.length, 1)
    assert.equal(list[0].address, 'reader@example.net')
    assert.equal(list[0].reason, 'unsubscribe')
    assert.equal(list[0].stream, 'broadcast')
    const events = (await h.request('GET', '/v1/events?limit=100')).body.data.filter(
      (e: { type: string }) => e.type === 'email.unsubscribed',
    )
    assert.equal(events.length, 1, 'one event, however many clicks')
    assert.equal(events[0].data.method, 'one_click')

    const next = await h.send(basicEmail({ from: 'hello@news.example.com', to: 'reader@example.net', stream: 'broadcast' }))
    assert.equal(next.body.status, 'suppressed')
    const transactional = await h.send(basicEmail({ from: 'hello@news.example.com', to: 'reader@example.net' }))
    assert.equal(transactional.body.status, 'queued')
    await delivered(transactional.body.id)
  })

  it('the mailto form, sent to the inbound listener, unsubscribes too', async () => {
    const res = await h.send(basicEmail({ from: 'hello@news.example.com', to: 'second@example.net', stream: 'broadcast' }))
    const raw = (await delivered(res.body.id)).raw.toString()
    const address = raw.match(/mailto:(unsubscribe\+[^@]+@[^?>]+)/)?.[1]
    assert.ok(address && address !== mailto)
    const tls = await loadSmtpTls(h.config)
    const inbound = await startInbound({
      config: { ...h.config, inboundHost: '127.0.0.1', inboundPort: 0 },
      logger: h.container.logger,
      feedback: h.container.services.feedback,
      unsubscribe: h.container.services.unsubscribe,
      tls,
    })
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: inbound.port,
      secure: false,
      tls: { rejectUnauthorized: false },
    })
    const send = (to: string) =>
      transport.sendMail({ envelope: { from: 'second@example.net', to: [to] }, raw: 'Subject: unsubscribe\r\n\r\n' })
    try {
      const bogus = address.replace(/-[a-z2-7]{16}@/, '-aaaaaaaaaaaaaaaa@')
      await assert.rejects(send(bogus), /550/)
      await send(address.toUpperCase())
    } finally {
      transport.close()
      await inbound.close()
    }
    const list = (await h.request('GET', '/v1/suppressions?limit=100')).body.data.map((s: { address: string }) => s.address)
    assert.ok(list.includes('second@example.net'), list.join(','))
  })
})
