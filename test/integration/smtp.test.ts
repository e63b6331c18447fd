import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import nodemailer from 'nodemailer'
import SMTPConnection from 'nodemailer/lib/smtp-connection'
import { pino } from 'pino'
import { AppError } from '../../src/lib/errors.js'
import { type SubmissionServer, startSubmission } from '../../src/smtp/submission.server.js'
import { loadSmtpTls } from '../../src/smtp/tls.js'
import { testConfig, waitFor } from '../helpers/env.js'
import { type Harness, startHarness, TERMINAL } from '../helpers/harness.js'
import { startPrivatePostgres } from '../helpers/processes.js'
import { smtpClient as client } from '../helpers/smtp-client.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

type Err = Error & { responseCode?: number; response?: string }

const MAX_BYTES = 100_000

/** The id out of `250 2.0.0 Ok: queued as <id>`. */
const queuedId = (response: string): string => {
  const match = /queued as ([0-9a-f-]{36})/.exec(response)
  assert.ok(match, `a queued-as reply, got ${response}`)
  return match[1] as string
}

/** A message exactly as a client would write it, CRLF line endings, with the given extra headers. */
const rawMessage = (opts: { to?: string; headers?: string[]; subject?: string; body?: string; id?: string } = {}) =>
  Buffer.from(
    [
      'From: Sender <sender@example.com>',
      `To: ${opts.to ?? 'rcpt@example.net'}`,
      `Subject: ${opts.subject ?? 'Over SMTP'}`,
      `Message-ID: <${opts.id ?? `${Math.random().toString(36).slice(2)}`}@example.com>`,
      'Date: Fri, 27 Nov 2026 10:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      ...(opts.headers ?? []),
      '',
      opts.body ?? 'Hello over SMTP.',
      '',
    ].join('\r\n'),
  )

const sendRaw = (h: Harness, raw: Buffer, envelope: { from: string; to: string[] }) => client(h).sendMail({ envelope, raw })

/** One logged-in SMTP connection, kept open across messages. */
async function openSession(h: Harness, pass: string): Promise<SMTPConnection> {
  const conn = new SMTPConnection({ host: '127.0.0.1', port: h.smtp!.smtpPort, requireTLS: true, tls: { rejectUnauthorized: false } })
  await new Promise<void>((resolve, reject) => {
    conn.once('error', reject)
    conn.connect(() => resolve())
  })
  await new Promise<void>((resolve, reject) => conn.login({ user: 'apikey', pass }, (err) => (err ? reject(err) : resolve())))
  return conn
}

/** Sends one message on an open connection; resolves to the final reply. */
const sendOn = (conn: SMTPConnection, raw: Buffer, envelope = { from: 'sender@example.com', to: ['rcpt@example.net'] }) =>
  new Promise<string>((resolve, reject) => conn.send(envelope, raw, (err, info) => (err ? reject(err) : resolve(String(info.response)))))

/**
 * A bare-bones SMTP client over implicit TLS that writes exactly the bytes it is given: nodemailer
 * turns a bare CR into CRLF on the way out, so it cannot send what a hostile client would.
 */
async function rawSmtp(port: number) {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false })
  let buffer = ''
  let wake: (() => void) | undefined
  let closed = false
  socket.setEncoding('utf8')
  socket.on('data', (text: string) => {
    buffer += text
    wake?.()
  })
  socket.on('error', () => {})
  const gone = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true
      wake?.()
      resolve()
    }),
  )
  /** The next whole reply (every line of it), or an error if the server closes first. */
  async function reply(): Promise<string> {
    for (;;) {
      const match = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(buffer)
      if (match) {
        buffer = buffer.slice(match[0].length)
        return match[0].trimEnd()
      }
      if (closed) throw new Error(`connection closed; unanswered: ${JSON.stringify(buffer)}`)
      await new Promise<void>((resolve) => {
        wake = resolve
      })
    }
  }
  /** Writes a command line and returns its reply. */
  const command = async (line: string) => {
    socket.write(`${line}\r\n`)
    return reply()
  }
  assert.match(await reply(), /^220 /)
  return {
    socket,
    reply,
    command,
    /** Resolves once the server has closed the connection. */
    gone,
    /** EHLO, AUTH PLAIN with `key`, MAIL FROM and RCPT TO, then DATA: ready for the message's bytes. */
    async startMessage(key: string, from = 'sender@example.com', to = 'rcpt@example.net') {
      assert.match(await command('EHLO raw.example'), /^250/)
      assert.match(await command(`AUTH PLAIN ${Buffer.from(`\0apikey\0${key}`).toString('base64')}`), /^235/)
      assert.match(await command(`MAIL FROM:<${from}>`), /^250/)
      assert.match(await command(`RCPT TO:<${to}>`), /^250/)
      assert.match(await command('DATA'), /^354/)
    },
  }
}

describe('SMTP submission', () => {
  let sink: Sink
  let h: Harness

  before(async () => {
    sink = await startSink()
    h = await startHarness({ smtp: true, env: { SMTP_RELAY_URL: sink.url, MAX_MESSAGE_BYTES: String(MAX_BYTES), MAX_RECIPIENTS: '3' } })
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  const arrived = (id: string) => waitFor(`email ${id} at the sink`, () => sink.received.find((m) => m.raw.toString().includes(id)))

  it('STARTTLS + AUTH PLAIN: accepted, then delivered and visible in the API like any email', async () => {
    const info = await client(h).sendMail({ from: 'Sender <sender@example.com>', to: 'rcpt@example.net', subject: 'PLAIN', text: 'hi' })
    const id = queuedId(info.response)
    const email = await h.waitForEmail(id, (e) => TERMINAL.includes(e.status))
    assert.equal(email.status, 'sent')
    assert.equal(email.source, 'smtp')
    assert.equal(email.subject, 'PLAIN')
    assert.equal(email.from, 'Sender <sender@example.com>')
    assert.deepEqual(
      (email.recipients as Array<{ address: string; kind: string }>).map((r) => [r.address, r.kind]),
      [['rcpt@example.net', 'to']],
    )
  })

  it('STARTTLS + AUTH LOGIN is accepted', async () => {
    const info = await client(h, { method: 'LOGIN' }).sendMail({
      from: 'sender@example.com',
      to: 'rcpt@example.net',
      subject: 'LOGIN',
      text: 'hi',
    })
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /)
  })

  it('implicit TLS (465-style) is accepted', async () => {
    const info = await client(h, { implicit: true }).sendMail({
      from: 'sender@example.com',
      to: 'rcpt@example.net',
      subject: 'TLS',
      text: 'hi',
    })
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /)
  })

  it('advertises SIZE, PIPELINING, 8BITMIME and SMTPUTF8', async () => {
    const conn = new SMTPConnection({ host: '127.0.0.1', port: h.smtp!.smtpPort, requireTLS: true, tls: { rejectUnauthorized: false } })
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject)
      conn.connect(() => resolve())
    })
    const ehlo = ((conn as unknown as { _ehloLines: string[] })._ehloLines ?? []).join('\n')
    conn.quit()
    assert.match(ehlo, new RegExp(`SIZE ${MAX_BYTES}`))
    for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'AUTH PLAIN LOGIN']) assert.match(ehlo, new RegExp(ext))
  })

  it('a wrong key → 535', async () => {
    await assert.rejects(
      client(h, { pass: `hk_${'a'.repeat(12)}_${'b'.repeat(40)}` }).sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' }),
      (err: Err) => err.responseCode === 535,
    )
  })

  it('a revoked key → 535', async () => {
    const { key, api_key } = (await h.request('POST', '/v1/api-keys', { payload: { scope: 'send' } })).body
    assert.match((await client(h, { pass: key }).sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' })).response, /^250/)
    await h.request('DELETE', `/v1/api-keys/${api_key.id}`)
    await assert.rejects(
      client(h, { pass: key }).sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' }),
      (err: Err) => err.responseCode === 535,
    )
  })

  it('a key revoked while a session is open: the next MAIL FROM gets 530, and a new key may log in again', async () => {
    const create = async () => (await h.request('POST', '/v1/api-keys', { payload: { scope: 'send' } })).body
    const first = await create()
    const conn = await openSession(h, first.key)
    try {
      assert.match(await sendOn(conn, rawMessage({ id: 'before-revoke' })), /^250 /)
      assert.equal((await h.request('DELETE', `/v1/api-keys/${first.api_key.id}`)).status, 200)
      await assert.rejects(
        sendOn(conn, rawMessage({ id: 'after-revoke' })),
        (err: Err) => err.responseCode === 530 && /5\.7\.0/.test(err.response ?? '') && /revoked/.test(err.response ?? ''),
      )
      const second = await create()
      await new Promise<void>((resolve, reject) =>
        conn.login({ user: 'apikey', pass: second.key }, (err) => (err ? reject(err) : resolve())),
      )
      assert.match(await sendOn(conn, rawMessage({ id: 'after-new-login' })), /^250 /)
    } finally {
      conn.quit()
    }
    const list = (await h.request('GET', '/v1/emails?limit=100')).body.data as Array<{ message_id?: string; subject: string }>
    assert.ok(!JSON.stringify(list).includes('after-revoke'), 'nothing was stored after the revocation')
  })

  it('AUTH before STARTTLS → 538', async () => {
    const plain = nodemailer.createTransport({
      host: '127.0.0.1',
      port: h.smtp!.smtpPort,
      secure: false,
      ignoreTLS: true,
      auth: { user: 'apikey', pass: h.key },
    })
    await assert.rejects(plain.sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' }), (err: Err) => err.responseCode === 538)
  })

  it('MAIL FROM without AUTH → 530', async () => {
    const anonymous = nodemailer.createTransport({
      host: '127.0.0.1',
      port: h.smtp!.smtpPort,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
    })
    await assert.rejects(
      anonymous.sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' }),
      (err: Err) => err.responseCode === 530,
    )
  })

  it('oversize → 552 and nothing stored', async () => {
    const before = (await h.request('GET', '/v1/emails?limit=100')).body.data.length
    const raw = rawMessage({
      body: 'x'
        .repeat(76)
        .concat('\r\n')
        .repeat(Math.ceil((MAX_BYTES * 1.5) / 78)),
    })
    await assert.rejects(sendRaw(h, raw, { from: 'sender@example.com', to: ['rcpt@example.net'] }), (err: Err) => err.responseCode === 552)
    const afterCount = (await h.request('GET', '/v1/emails?limit=100')).body.data.length
    assert.equal(afterCount, before)
  })

  it('a bare CR in the header section (a From hidden in another field) → 554 5.6.0 asking for CRLF, nothing stored', async () => {
    const before = (await h.request('GET', '/v1/emails?limit=100')).body.data.length
    const smtp = await rawSmtp(h.smtp!.smtpsPort)
    try {
      await smtp.startMessage(h.key)
      // parseHeader sees one X-Foo field; a relay writing CRLF for the bare CR would send two From fields.
      smtp.socket.write(
        'From: Sender <sender@example.com>\r\nTo: rcpt@example.net\r\nX-Foo: bar\rFrom: ceo@bank.example\r\nSubject: hidden\r\n\r\nbody\r\n.\r\n',
      )
      const answer = await smtp.reply()
      assert.match(answer, /^554 5\.6\.0 /, answer)
      assert.match(answer, /\/headers/)
      assert.match(answer, /CRLF/)
      // A bare CR in the body is another matter: it is relayed as the relay writes it.
      assert.match(await smtp.command('MAIL FROM:<sender@example.com>'), /^250/)
      assert.match(await smtp.command('RCPT TO:<rcpt@example.net>'), /^250/)
      assert.match(await smtp.command('DATA'), /^354/)
      smtp.socket.write(
        'From: Sender <sender@example.com>\r\nTo: rcpt@example.net\r\nMessage-ID: <body-cr@example.com>\r\nSubject: body cr\r\n\r\nline\rmore\r\n.\r\n',
      )
      queuedId(await smtp.reply())
      await smtp.command('QUIT')
      const afterCount = (await h.request('GET', '/v1/emails?limit=100')).body.data.length
      assert.equal(afterCount, before + 1, 'only the second message was stored')
      await arrived('body-cr@example.com')
    } finally {
      smtp.socket.destroy()
    }
  })

  it('past MAX_RECIPIENTS the extra RCPT gets 452 and the rest still go', async () => {
    const info = await client(h).sendMail({
      from: 'sender@example.com',
      to: ['r1@example.net', 'r2@example.net', 'r3@example.net', 'r4@example.net'],
      text: 'many',
    })
    assert.deepEqual(info.rejected, ['r4@example.net'])
    assert.equal((info.rejectedErrors as Err[] | undefined)?.[0]?.responseCode, 452)
    assert.equal(((await h.getEmail(queuedId(info.response))).recipients as unknown[]).length, 3)
  })

  it('Bcc recipients are delivered, but the Bcc header is not relayed', async () => {
    const raw = rawMessage({ headers: ['Bcc: Hidden <hidden@example.net>'], id: 'bcc-test' })
    const info = await sendRaw(h, raw, { from: 'sender@example.com', to: ['rcpt@example.net', 'hidden@example.net'] })
    const id = queuedId(info.response)
    const message = await arrived('bcc-test@example.com')
    assert.deepEqual(message.to.sort(), ['hidden@example.net', 'rcpt@example.net'])
    assert.doesNotMatch(message.raw.toString(), /^Bcc:/im)
    assert.ok(
      message.raw.equals(Buffer.from(raw.toString().replace('Bcc: Hidden <hidden@example.net>\r\n', ''))),
      'every other byte is unchanged',
    )
    const kinds = ((await h.getEmail(id)).recipients as Array<{ address: string; kind: string }>).map((r) => [r.address, r.kind])
    assert.deepEqual(kinds.sort(), [
      ['hidden@example.net', 'bcc'],
      ['rcpt@example.net', 'to'],
    ])
  })

  it('an 8-bit UTF-8 subject and body survive byte for byte to the sink', async () => {
    const raw = rawMessage({ id: 'utf8-test', subject: '日本語の件名 — ünïcødé', body: 'こんにちは、飛脚です。\r\nZürich → Ōsaka' })
    const info = await sendRaw(h, raw, { from: 'sender@example.com', to: ['rcpt@example.net'] })
    const id = queuedId(info.response)
    const message = await arrived('utf8-test@example.com')
    assert.ok(message.raw.equals(raw), 'the relayed bytes equal the submitted bytes')
    assert.equal((await h.getEmail(id)).subject, '日本語の件名 — ünïcødé')
  })

  it('a header that decodes to text the database cannot store is accepted; its view drops those characters', async () => {
    const raw = rawMessage({ id: 'nul-subject', subject: '=?utf-8?q?x=00y?=' })
    const info = await sendRaw(h, raw, { from: 'sender@example.com', to: ['rcpt@example.net'] })
    assert.equal((await h.getEmail(queuedId(info.response))).subject, 'xy')
    assert.ok((await arrived('nul-subject@example.com')).raw.equals(raw), 'the bytes are relayed untouched')
  })

  it('X-Hikyaku-* options are applied and stripped before relaying', async () => {
    const raw = rawMessage({ id: 'options-test', headers: ['X-Hikyaku-Tags: campaign=spring, tier=gold', 'X-Hikyaku-Stream: broadcast'] })
    const info = await sendRaw(h, raw, { from: 'sender@example.com', to: ['rcpt@example.net'] })
    const email = await h.getEmail(queuedId(info.response))
    assert.deepEqual(email.tags, { campaign: 'spring', tier: 'gold' })
    assert.equal(email.stream, 'broadcast')
    const message = await arrived('options-test@example.com')
    assert.doesNotMatch(message.raw.toString(), /X-Hikyaku/i)
  })

  it('X-Hikyaku-Campaign puts the message in a campaign of the account; another id is refused', async () => {
    const campaign = await h.request('POST', '/v1/campaigns', { payload: { name: 'Over SMTP' } })
    assert.equal(campaign.status, 201)
    await sendRaw(
      h,
      rawMessage({ id: 'campaign-smtp', headers: [`X-Hikyaku-Campaign: ${campaign.body.id}`, 'X-Hikyaku-Stream: broadcast'] }),
      {
        from: 'sender@example.com',
        to: ['reader@example.net'],
      },
    )
    await arrived('campaign-smtp@example.com')
    const detail = await h.request('GET', `/v1/campaigns/${campaign.body.id}`)
    assert.equal(detail.body.counts.recipients.sent, 1, JSON.stringify(detail.body.counts))
    await assert.rejects(
      sendRaw(h, rawMessage({ headers: ['X-Hikyaku-Campaign: 01a2c0de-0000-7000-8000-000000000000'] }), {
        from: 'sender@example.com',
        to: ['rcpt@example.net'],
      }),
      (err: Err) => err.responseCode === 554 && /campaign/i.test(err.response ?? ''),
    )
    await assert.rejects(
      sendRaw(h, rawMessage({ headers: ['X-Hikyaku-Campaign: spring'] }), { from: 'sender@example.com', to: ['rcpt@example.net'] }),
      (err: Err) => err.responseCode === 554 && /X-Hikyaku-Campaign/.test(err.response ?? ''),
    )
  })

  it('X-Hikyaku-Scheduled-At holds the message until its time', async () => {
    const at = new Date(Date.now() + 60 * 60_000).toISOString()
    const info = await sendRaw(h, rawMessage({ headers: [`X-Hikyaku-Scheduled-At: ${at}`] }), {
      from: 'sender@example.com',
      to: ['rcpt@example.net'],
    })
    const email = await h.getEmail(queuedId(info.response))
    assert.equal(email.status, 'scheduled')
    assert.equal(email.scheduled_at, at)
  })

  it('an invalid option header is refused with 554 and a message naming it', async () => {
    await assert.rejects(
      sendRaw(h, rawMessage({ headers: ['X-Hikyaku-Tags: not a tag'] }), { from: 'sender@example.com', to: ['rcpt@example.net'] }),
      (err: Err) => err.responseCode === 554 && /X-Hikyaku-Tags/.test(err.response ?? ''),
    )
  })

  it('X-Hikyaku-Idempotency-Key: a replay answers 250 with the original id and stores nothing new', async () => {
    const headers = ['X-Hikyaku-Idempotency-Key: order-1234']
    const first = queuedId(
      (await sendRaw(h, rawMessage({ headers, id: 'idem-1' }), { from: 'sender@example.com', to: ['rcpt@example.net'] })).response,
    )
    // A client retrying resends the message; its Date and Message-ID may differ.
    const again = queuedId(
      (await sendRaw(h, rawMessage({ headers, id: 'idem-2' }), { from: 'sender@example.com', to: ['rcpt@example.net'] })).response,
    )
    assert.equal(again, first)
    const list = (await h.request('GET', '/v1/emails?limit=100')).body.data as Array<{ id: string }>
    assert.equal(list.filter((e) => e.id === first).length, 1)
    await assert.rejects(
      sendRaw(h, rawMessage({ headers, body: 'a different message' }), { from: 'sender@example.com', to: ['rcpt@example.net'] }),
      (err: Err) => err.responseCode === 554 && /5\.7\.0/.test(err.response ?? ''),
    )
  })

  it('swaks (an independent client) can submit with STARTTLS and AUTH PLAIN', async (t) => {
    const swaks = await promisify(execFile)('sh', ['-c', 'command -v swaks']).catch(() => undefined)
    if (!swaks) return t.skip('swaks is not installed')
    const { stdout } = await promisify(execFile)('swaks', [
      '--server',
      '127.0.0.1',
      '--port',
      String(h.smtp!.smtpPort),
      '--tls',
      '--auth',
      'PLAIN',
      '--auth-user',
      'apikey',
      '--auth-password',
      h.key,
      '--from',
      'sender@example.com',
      '--to',
      'rcpt@example.net',
      '--h-Subject',
      'From swaks',
      '--body',
      'swaks body',
    ])
    assert.match(stdout, /250 2\.0\.0 Ok: queued as [0-9a-f-]{36}/)
  })
})

describe('while Postgres is down', () => {
  let sink: Sink
  let pg: Awaited<ReturnType<typeof startPrivatePostgres>>
  let h: Harness

  before(async () => {
    sink = await startSink()
    pg = await startPrivatePostgres(fileURLToPath(new URL('../../prisma/migrations', import.meta.url)))
    h = await startHarness({ smtp: true, worker: false, databaseUrl: pg.url, env: { SMTP_RELAY_URL: sink.url } })
  })
  after(async () => {
    await h.close()
    await pg.destroy()
    await sink.close()
  })

  it('HTTP answers 503 with Retry-After (nothing accepted), then 202 once it is back', async () => {
    await pg.stop()
    try {
      const down = await h.send({ from: 'a@example.com', to: 'b@example.net', subject: 's', text: 't' })
      assert.equal(down.status, 503)
      assert.equal(down.body.error.code, 'unavailable')
      assert.ok(Number(down.headers['retry-after']) > 0)
    } finally {
      await pg.start()
    }
    const up = await waitFor(
      'the API to accept again',
      async () => {
        const res = await h.send({ from: 'a@example.com', to: 'b@example.net', subject: 's', text: 't' })
        return res.status === 202 ? res : undefined
      },
      20_000,
      300,
    )
    assert.equal(up.body.status, 'queued')
  })

  it('SMTP answers 451 (never 250), and the client retry after recovery succeeds, stored once', async () => {
    const conn = await openSession(h, h.key)
    // A fresh envelope each time (sendOn's default): nodemailer keeps a refusal on the object.
    const send = () => sendOn(conn, rawMessage({ id: 'pg-down' }))

    await pg.stop()
    await assert.rejects(send(), (err: Err) => err.responseCode === 451)
    await pg.start()
    const response = await waitFor('a retry to be accepted', () => send().catch(() => undefined), 20_000, 500)
    conn.quit()
    const id = queuedId(response)
    const list = (await h.request('GET', '/v1/emails?limit=100')).body.data as Array<{
      id: string
      source: string
    }>
    assert.deepEqual(
      list.filter((e) => e.source === 'smtp').map((e) => e.id),
      [id],
    )
  })
})

describe('SMTP login failures (SMTP_AUTH_MAX_FAILURES=3)', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ smtp: true, worker: false, env: { SMTP_AUTH_MAX_FAILURES: '3', SMTP_AUTH_BLOCK: '1m' } })
  })
  after(async () => {
    await h.close()
  })

  it('slows repeated failures, then refuses the address even with a valid key', async () => {
    const wrong = `hk_${'a'.repeat(12)}_${'b'.repeat(40)}`
    const timings: number[] = []
    for (let i = 0; i < 3; i++) {
      const started = Date.now()
      await assert.rejects(
        client(h, { pass: wrong }).sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' }),
        (err: Err) => err.responseCode === 535,
      )
      timings.push(Date.now() - started)
    }
    assert.ok((timings[2] as number) >= 450, `the third failure is answered late (${timings.join(', ')} ms)`)
    await assert.rejects(
      client(h).sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' }),
      (err: Err) => err.responseCode === 421 || err.responseCode === 454,
    )
  })
})

describe('SMTP and HTTP share the per-key rate limit (RATE_LIMIT_MAX=2)', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ smtp: true, worker: false, env: { RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW: '1m' } })
  })
  after(async () => {
    await h.close()
  })

  it('answers 451 4.7.1 over SMTP once the key has used its budget over HTTP', async () => {
    for (let i = 0; i < 2; i++)
      assert.equal((await h.send({ from: 'a@example.com', to: 'b@example.net', subject: 's', text: 't' })).status, 202)
    await assert.rejects(
      client(h).sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' }),
      (err: Err) => err.responseCode === 451 && /4\.7\.1/.test(err.response ?? ''),
    )
  })
})

describe('SMTP replies and logs leak nothing internal (stub services)', () => {
  const lines: string[] = []
  const key = `hk_${'k'.repeat(12)}_${'s'.repeat(40)}`
  const state = { authenticate: 'ok' as 'ok' | 'db_down', submitError: undefined as Error | undefined }
  const principal = { accountId: 'acc', apiKeyId: 'id', keyId: 'k'.repeat(12), scope: 'full' as const }
  let config: ReturnType<typeof testConfig>
  let server: SubmissionServer

  before(async () => {
    config = testConfig({ DATABASE_URL: 'postgresql://unused@127.0.0.1:9/unused' })
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
    const submit = async () => {
      throw state.submitError ?? new Error('no submission expected')
    }
    server = await startSubmission({
      config,
      logger,
      apiKeys: {
        async authenticate(token) {
          if (state.authenticate === 'db_down')
            throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
          if (token !== key) throw new AppError('unauthorized', 'Invalid or revoked API key')
          return principal
        },
      },
      emails: { submit, submitDraft: submit } as never,
      tls: await loadSmtpTls(config),
      backlog: async () => 0,
      rateLimit: { hit: async () => ({}) },
    })
  })
  after(async () => {
    await server.close()
    config.cleanup()
  })

  const stub = { smtp: { smtpPort: 0, smtpsPort: 0 } } as unknown as Harness
  const session = () => {
    stub.smtp!.smtpPort = server.smtpPort
    return openSession(stub, key)
  }

  it('a failed login logs the method and address, never the user name (which may hold a key)', async () => {
    const swapped = nodemailer.createTransport({
      host: '127.0.0.1',
      port: server.smtpPort,
      requireTLS: true,
      auth: { user: key.replace(/s/g, 't'), pass: 'apikey' },
      tls: { rejectUnauthorized: false },
    })
    await assert.rejects(
      swapped.sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' }),
      (err: Err) => err.responseCode === 535,
    )
    const logged = lines.find((l) => l.includes('SMTP login failed'))
    assert.ok(logged, 'the failure is logged')
    assert.ok(!logged.includes('ttttt') && !logged.includes('hk_'), `no part of the user name in ${logged}`)
    assert.match(logged, /"method":"PLAIN"/)
    assert.match(logged, /"usernameIsKey":true/)
  })

  it('the key cannot be checked again at MAIL FROM (database down) → 451 4.3.0, temporary', async () => {
    const conn = await session()
    try {
      state.authenticate = 'db_down'
      await assert.rejects(
        sendOn(conn, rawMessage()),
        (err: Err) => err.responseCode === 451 && /4\.3\.0/.test(err.response ?? '') && !/5432|ECONNREFUSED/.test(err.response ?? ''),
      )
    } finally {
      state.authenticate = 'ok'
      conn.quit()
    }
  })

  it("an internal error's text stays in the log; the client gets 451 and a generic reply", async () => {
    const conn = await session()
    try {
      state.submitError = new AppError('internal', 'Cannot decrypt the DKIM key of secret.example: was HIKYAKU_SECRET changed?')
      await assert.rejects(
        sendOn(conn, rawMessage()),
        (err: Err) => err.responseCode === 451 && !/secret\.example|HIKYAKU_SECRET/.test(err.response ?? ''),
      )
    } finally {
      state.submitError = undefined
      conn.quit()
    }
    assert.ok(
      lines.some((l) => l.includes('secret.example')),
      'operators still see the whole error',
    )
  })
})

describe('SMTP DATA time limit (stub services, a 600 ms limit)', () => {
  const key = `hk_${'d'.repeat(12)}_${'s'.repeat(40)}`
  const principal = { accountId: 'acc', apiKeyId: 'id', keyId: 'd'.repeat(12), scope: 'full' as const }
  let config: ReturnType<typeof testConfig>
  let server: SubmissionServer
  let submitted = 0

  before(async () => {
    config = testConfig({ DATABASE_URL: 'postgresql://unused@127.0.0.1:9/unused' })
    server = await startSubmission({
      config,
      logger: pino({ level: 'silent' }),
      apiKeys: {
        async authenticate(token) {
          if (token !== key) throw new AppError('unauthorized', 'Invalid or revoked API key')
          return principal
        },
      },
      emails: {
        submitDraft: async () => {
          submitted++
          return { status: 202, body: { id: '00000000-0000-7000-8000-000000000000' } }
        },
      } as never,
      tls: await loadSmtpTls(config),
      backlog: async () => 0,
      rateLimit: { hit: async () => ({}) },
      dataTimeLimitMs: 600,
    })
  })
  after(async () => {
    await server.close()
    config.cleanup()
  })

  it('a message that dribbles in, a byte every 100 ms, gets 421 4.4.2 at the limit and the connection is closed', async () => {
    const smtp = await rawSmtp(server.smtpsPort)
    await smtp.startMessage(key)
    smtp.socket.write('Subject: slow\r\n\r\n')
    const started = Date.now()
    const dribble = setInterval(() => smtp.socket.writable && smtp.socket.write('x'), 100)
    try {
      const answer = await smtp.reply()
      assert.match(answer, /^421 4\.4\.2 /, answer)
      await smtp.gone
      const took = Date.now() - started
      assert.ok(took >= 500 && took < 5_000, `cut at about the limit (${took} ms)`)
      assert.equal(submitted, 0, 'nothing was submitted')
    } finally {
      clearInterval(dribble)
      smtp.socket.destroy()
    }
  })

  it('a message that arrives within the limit is accepted', async () => {
    const smtp = await rawSmtp(server.smtpsPort)
    try {
      await smtp.startMessage(key)
      smtp.socket.write('Subject: quick\r\n\r\nbody\r\n.\r\n')
      assert.match(await smtp.reply(), /^250 /)
      assert.equal(submitted, 1)
    } finally {
      smtp.socket.destroy()
    }
  })
})
