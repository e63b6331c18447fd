import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import nodemailer from 'nodemailer'
import pg from 'pg'
import { returnPath } from '../../src/modules/feedback/verp.js'
import { type InboundServer, startInbound } from '../../src/smtp/inbound.server.js'
import { loadSmtpTls } from '../../src/smtp/tls.js'
import { basicEmail, type Harness, startHarness, TERMINAL, workerEnv } from '../helpers/harness.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/reports/', import.meta.url))
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const VERP_RE = /bounces\+[0-9a-f]{32}-[a-z2-7]+@bounces\.example\.com/g

/**
 * A report as a real sender wrote it (Postfix on this machine, or a provider's format), made to
 * answer one of this test's deliveries: its return path and recipient replaced.
 */
function report(fixture: string, verp: string, replace: Record<string, string> = {}): Buffer {
  let text = readFileSync(`${FIXTURES}${fixture}`, 'latin1').replace(VERP_RE, verp)
  for (const [from, to] of Object.entries(replace)) text = text.replaceAll(from, to)
  return Buffer.from(text, 'latin1')
}

describe('bounces and complaints in (hikyaku inbound)', () => {
  let h: Harness
  let sink: Sink
  let inbound: InboundServer
  let db: pg.Client

  before(async () => {
    sink = await startSink()
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url } })
    inbound = await startInbound({
      config: { ...h.config, inboundHost: '127.0.0.1', inboundPort: 0 },
      logger: h.container.logger,
      feedback: h.container.services.feedback,
      tls: await loadSmtpTls(h.config),
    })
    db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
    // Its return-path domain, bounces.example.com, is where complaints are taken.
    assert.equal((await h.request('POST', '/v1/domains', { payload: { name: 'example.com' } })).status, 201)
  })
  after(async () => {
    await db.end()
    await inbound.close()
    await h.close()
    await sink.close()
  })

  /** Sends one email to `to` and waits until it is sent; returns its id and its signed return path. */
  async function sent(to: string): Promise<{ id: string; verp: string }> {
    const res = await h.send(basicEmail({ to }))
    assert.equal(res.status, 202, JSON.stringify(res.body))
    await h.waitForEmail(res.body.id, (e) => TERMINAL.includes(e.status))
    const { rows } = await db.query<{ delivery_id: string }>('SELECT delivery_id FROM recipients WHERE email_id = $1', [res.body.id])
    return { id: res.body.id, verp: returnPath(h.config.secret, rows[0]?.delivery_id as string, 'bounces.example.com') }
  }

  /** Submits a report to the inbound listener as an MTA would: MAIL FROM:<>, STARTTLS when offered. */
  async function submit(raw: Buffer, to: string, from = '') {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: inbound.port,
      secure: false,
      tls: { rejectUnauthorized: false },
    })
    try {
      return await transport.sendMail({ envelope: { from, to: [to] }, raw })
    } finally {
      transport.close()
    }
  }

  it('a DSN written by Postfix bounces a delivered recipient, suppresses the address, and the next send is suppressed', async () => {
    const address = 'gone-1@example.net'
    const { id, verp } = await sent(address)
    const before = sink.received.length
    const info = await submit(report('postfix-5.1.1.eml', verp, { 'gone@example.net': address }), verp)
    assert.match(info.response, /^250 /)

    const email = await h.getEmail(id)
    assert.equal(email.status, 'bounced')
    assert.equal(email.recipients[0].status, 'bounced')
    assert.equal(email.recipients[0].bounce_category, 'hard')
    assert.deepEqual(
      email.attempts.map((a: { outcome: string }) => a.outcome),
      ['sent', 'bounced'],
      'the history shows the delivery and the bounce',
    )
    const types = email.events.map((e: { type: string }) => e.type)
    assert.deepEqual(types.slice(-2), ['email.sent', 'email.bounced'])
    const bounce = email.events.at(-1)
    assert.equal(bounce.data.bounce_category, 'hard')
    assert.equal(bounce.data.async, true)
    assert.equal(bounce.data.enhanced_code, '5.1.1')

    const { rows } = await db.query('SELECT reason, source FROM suppressions WHERE account_id = $1 AND address = $2', [
      h.accountId,
      address,
    ])
    assert.equal(rows[0]?.reason, 'hard_bounce')
    assert.equal(rows[0]?.source.email_id, id)

    // The same report again (an MTA retrying after a lost 250) changes nothing more.
    await submit(report('postfix-5.1.1.eml', verp, { 'gone@example.net': address }), verp)
    assert.equal((await h.getEmail(id)).events.filter((e: { type: string }) => e.type === 'email.bounced').length, 1)

    const next = await h.send(basicEmail({ to: address }))
    assert.equal(next.status, 202)
    assert.deepEqual(next.body.suppressed, [{ address, reason: 'hard_bounce' }])
    const nextEmail = await h.waitForEmail(next.body.id, (e) => TERMINAL.includes(e.status))
    assert.equal(nextEmail.status, 'suppressed')
    assert.deepEqual(nextEmail.attempts, [])
    assert.equal(sink.received.length, before, 'no SMTP attempt for a suppressed address')
  })

  it('refuses a forged return path and any other address with 550 5.1.1', async () => {
    const { verp } = await sent('forged@example.net')
    const forged = verp.replace(/-[a-z2-7]+@/, '-aaaaaaaaaaaaa@')
    await assert.rejects(
      submit(report('postfix-5.1.1.eml', forged), forged),
      (err: Error & { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 550)
        assert.match(String(err.response), /5\.1\.1/)
        return true
      },
    )
    await assert.rejects(
      submit(Buffer.from('Subject: hi\r\n\r\nhello\r\n'), 'postmaster@bounces.example.com', 'someone@example.org'),
      /550/,
    )
    // The complaint address only of return-path domains Hikyaku has: not a sink for any domain.
    await assert.rejects(submit(Buffer.from('Subject: hi\r\n\r\nhello\r\n'), 'fbl@elsewhere.example', 'someone@example.org'), /550/)
    const { rows } = await db.query(`SELECT status::text FROM recipients WHERE address = 'forged@example.net'`)
    assert.equal(rows[0]?.status, 'sent')
  })

  it('a 5.7.x policy bounce is categorised as policy and does not suppress', async () => {
    const address = 'buyer-1@contoso.example'
    const { id, verp } = await sent(address)
    await submit(report('microsoft-5.7.606.eml', verp, { 'buyer@contoso.com': address }), verp)
    const email = await h.getEmail(id)
    assert.equal(email.recipients[0].status, 'bounced')
    assert.equal(email.recipients[0].bounce_category, 'policy')
    const { rows } = await db.query('SELECT 1 FROM suppressions WHERE account_id = $1 AND address = $2', [h.accountId, address])
    assert.equal(rows.length, 0)
  })

  it('a delayed DSN adds an event only', async () => {
    const address = 'slow-1@example.net'
    const { id, verp } = await sent(address)
    await submit(report('postfix-delayed-4.2.0.eml', verp, { 'slow@example.net': address }), verp)
    const email = await h.getEmail(id)
    assert.equal(email.recipients[0].status, 'sent')
    const deferred = email.events.filter((e: { type: string; data: { async?: boolean } }) => e.type === 'email.deferred' && e.data.async)
    assert.equal(deferred.length, 1)
  })

  it('an ARF complaint (Yahoo format) adds email.complained and suppresses; the recipient stays sent', async () => {
    const address = 'reader-1@yahoo.example'
    const { id, verp } = await sent(address)
    await submit(
      report('yahoo-arf.eml', verp, { 'reader@yahoo.com': address }),
      'fbl@bounces.example.com',
      'feedback@arf.mail.yahoo.example',
    )
    const email = await h.getEmail(id)
    assert.equal(email.recipients[0].status, 'sent')
    const complaint = email.events.find((e: { type: string }) => e.type === 'email.complained')
    assert.equal(complaint?.data.feedback_type, 'abuse')
    const { rows } = await db.query('SELECT reason FROM suppressions WHERE account_id = $1 AND address = $2', [h.accountId, address])
    assert.equal(rows[0]?.reason, 'complaint')
  })

  it('matches a complaint without a return path by the Message-ID, only for an email to one recipient', async () => {
    const arfFor = async (emailId: string, address: string) => {
      const { rows } = await db.query<{ message_id: string }>('SELECT message_id FROM emails WHERE id = $1', [emailId])
      const text = readFileSync(`${FIXTURES}yahoo-arf.eml`, 'latin1')
        .split('\r\n')
        .filter((line) => !/^(Return-Path|Original-Mail-From):/i.test(line))
        .join('\r\n')
        .replaceAll('<019ad5f2-3c4e-7a81-9b2c-5d6e7f80a004@mail.example.com>', rows[0]?.message_id as string)
        .replaceAll('reader@yahoo.com', address)
      return Buffer.from(text, 'latin1')
    }
    const single = await sent('single-1@example.net')
    await submit(await arfFor(single.id, 'single-1@example.net'), 'fbl@bounces.example.com', 'feedback@arf.example')
    assert.ok((await h.getEmail(single.id)).events.some((e: { type: string }) => e.type === 'email.complained'))

    const res = await h.send(basicEmail({ to: ['pair-1@example.net', 'pair-2@example.net'] }))
    await h.waitForEmail(res.body.id, (e) => TERMINAL.includes(e.status))
    // A co-recipient knows the Message-ID: it must not be able to complain in the other's name.
    await submit(await arfFor(res.body.id, 'pair-2@example.net'), 'fbl@bounces.example.com', 'feedback@arf.example')
    assert.ok(!(await h.getEmail(res.body.id)).events.some((e: { type: string }) => e.type === 'email.complained'))
  })

  it('a DSN about one of two recipients of one delivery bounces that one; the email is partially delivered', async () => {
    const res = await h.send(basicEmail({ to: ['both-1@example.net', 'both-2@example.net'] }))
    await h.waitForEmail(res.body.id, (e) => TERMINAL.includes(e.status))
    const { rows } = await db.query<{ delivery_id: string; n: number }>(
      'SELECT delivery_id, count(*)::int AS n FROM recipients WHERE email_id = $1 GROUP BY 1',
      [res.body.id],
    )
    assert.equal(rows.length, 1, 'one SMTP transaction to the relay for both')
    const verp = returnPath(h.config.secret, rows[0]?.delivery_id as string, 'bounces.example.com')
    await submit(report('postfix-5.1.1.eml', verp, { 'gone@example.net': 'both-2@example.net' }), verp)
    const email = await h.getEmail(res.body.id)
    assert.equal(email.status, 'partially_delivered')
    assert.deepEqual(email.recipients.map((r: { address: string; status: string }) => [r.address, r.status]).sort(), [
      ['both-1@example.net', 'sent'],
      ['both-2@example.net', 'bounced'],
    ])
    // Either recipient could have written it: the suppression expires.
    const { rows: sup } = await db.query('SELECT expires_at FROM suppressions WHERE account_id = $1 AND address = $2', [
      h.accountId,
      'both-2@example.net',
    ])
    assert.ok(sup[0]?.expires_at instanceof Date)
  })

  it('answers 451 to a DSN about an attempt still being recorded, and takes it when brought again', async () => {
    const address = 'early-1@example.net'
    const { id, verp } = await sent(address)
    // As if the outcome of the attempt had not been written yet (a relay's instant DSN).
    await db.query(`UPDATE recipients SET status = 'sending' WHERE email_id = $1`, [id])
    const dsn = report('postfix-5.1.1.eml', verp, { 'gone@example.net': address })
    await assert.rejects(submit(dsn, verp), (err: Error & { responseCode?: number }) => err.responseCode === 451)
    await db.query(`UPDATE recipients SET status = 'sent' WHERE email_id = $1`, [id])
    await submit(dsn, verp)
    assert.equal((await h.getEmail(id)).recipients[0].status, 'bounced')
  })

  it('reports arriving together (written in shared transactions) each act as if alone', async () => {
    // Over SMTP, as senders bring them; the in-process test below makes them share one batch.
    const [a, b, c] = await Promise.all(['together-a@example.net', 'together-b@example.net', 'together-c@example.net'].map(sent))
    await db.query(`UPDATE recipients SET status = 'sending' WHERE email_id = $1`, [c?.id])
    const dsn = (x: { verp: string }, address: string) => report('postfix-5.1.1.eml', x.verp, { 'gone@example.net': address })
    const results = await Promise.allSettled([
      ...Array.from({ length: 4 }, () => submit(dsn(a as { verp: string }, 'together-a@example.net'), a?.verp as string)),
      submit(dsn(b as { verp: string }, 'together-b@example.net'), b?.verp as string),
      submit(dsn(c as { verp: string }, 'together-c@example.net'), c?.verp as string),
    ])
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? 250 : (r.reason as { responseCode?: number }).responseCode)),
      [250, 250, 250, 250, 250, 451],
      'the report about a recipient still being sent waits; the others are taken',
    )
    const emailA = await h.getEmail(a?.id as string)
    assert.equal(emailA.recipients[0].status, 'bounced')
    assert.equal(emailA.events.filter((e: { type: string }) => e.type === 'email.bounced').length, 1, 'four reports, one bounce')
    assert.equal(emailA.attempts.length, 2)
    assert.equal((await h.getEmail(b?.id as string)).recipients[0].status, 'bounced')
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM inbound_reports WHERE email_id = ANY($1::uuid[])`, [
      [a?.id, b?.id, c?.id],
    ])
    assert.equal(rows[0]?.n, 5, 'every report taken is stored; the one that waits is not')
  })

  it('reports handed over in one tick share a batch and each get their own answer', async () => {
    const [a, b, c] = await Promise.all(['batch-a@example.net', 'batch-b@example.net', 'batch-c@example.net'].map(sent))
    await db.query(`UPDATE recipients SET status = 'sending' WHERE email_id = $1`, [c?.id])
    const receive = (x: { verp: string } | undefined, address: string) =>
      h.container.services.feedback.receive({
        raw: report('postfix-5.1.1.eml', x?.verp as string, { 'gone@example.net': address }),
        mailFrom: '',
        rcptTo: [x?.verp as string],
      })
    const results = await Promise.allSettled([
      receive(a, 'batch-a@example.net'),
      receive(c, 'batch-c@example.net'),
      receive(a, 'batch-a@example.net'),
      receive(b, 'batch-b@example.net'),
      receive(a, 'batch-a@example.net'),
    ])
    const outcome = results.map((r) => (r.status === 'fulfilled' ? r.value.applied : (r.reason as { code?: string }).code))
    // Which of the three reports about batch-a is planned first is up to the order in the batch.
    assert.deepEqual([outcome[1], outcome[3]], ['unavailable', 1])
    assert.deepEqual([outcome[0], outcome[2], outcome[4]].sort(), [0, 0, 1], 'one of three reports about one recipient bounces it')
    const ids = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.reportId] : []))
    assert.equal(new Set(ids).size, 4, 'each report taken has its own stored row')
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM inbound_reports WHERE id = ANY($1::uuid[])', [ids])
    assert.equal(rows[0]?.n, 4)
  })

  it('keeps mail that is neither as unrecognized, and changes nothing', async () => {
    const address = 'away-1@example.net'
    const { id, verp } = await sent(address)
    const info = await submit(report('autoreply.eml', verp), verp)
    const reportId = /report ([0-9a-f-]{36})/.exec(info.response)?.[1]
    const { rows } = await db.query('SELECT kind, length(raw) AS size FROM inbound_reports WHERE id = $1', [reportId])
    assert.equal(rows[0]?.kind, 'unrecognized')
    assert.ok(Number(rows[0]?.size) > 0)
    assert.equal((await h.getEmail(id)).recipients[0].status, 'sent')
  })

  it('`hikyaku inbound --stdin` takes a report piped in by an MTA', async () => {
    const address = 'gone-2@example.net'
    const { id, verp } = await sent(address)
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'inbound', '--stdin', '--recipient', verp], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...workerEnv(h), HIKYAKU_SECRET: h.config.secret },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (c) => {
      out += c
    })
    child.stderr.on('data', (c) => {
      out += c
    })
    child.stdin.end(report('postfix-5.1.1.eml', verp, { 'gone@example.net': address }))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    assert.equal(code, 0, out)
    assert.match(out, /"kind":"dsn","matched":1/)
    assert.equal((await h.getEmail(id)).recipients[0].status, 'bounced')
  })
})
