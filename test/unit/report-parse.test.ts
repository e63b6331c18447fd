import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import {
  type ArfReport,
  type DsnReport,
  type ParsedReport,
  parseReport,
  type UnrecognizedReport,
} from '../../src/modules/feedback/report.parse.js'
import { parseReturnPath } from '../../src/modules/feedback/verp.js'

// The secret the fixtures' VERP addresses were signed with (see feedback-verp.test.ts).
const secret = 'fixture-secret'
const fixture = (name: string) => readFileSync(new URL(`../fixtures/reports/${name}`, import.meta.url))
const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'))

async function parse<K extends ParsedReport['kind']>(raw: Buffer, kind: K): Promise<Extract<ParsedReport, { kind: K }>> {
  const report = await parseReport(raw)
  assert.equal(report.kind, kind, JSON.stringify(report))
  return report as Extract<ParsedReport, { kind: K }>
}

describe('parseReport: DSNs from a real Postfix (captured on this machine)', () => {
  it('a 5.1.1 rejection: one failed recipient, the VERP return path and the original headers', async () => {
    const report: DsnReport = await parse(fixture('postfix-5.1.1.eml'), 'dsn')
    assert.deepEqual(report.recipients, [
      {
        action: 'failed',
        category: 'hard',
        finalRecipient: 'gone@example.net',
        originalRecipient: 'gone@example.net',
        status: '5.1.1',
        diagnostic: '550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown in virtual mailbox table',
        remoteMta: '127.0.0.1',
      },
    ])
    assert.equal(report.reportingMta, 'mta1.hikyaku-test.example')
    assert.equal(report.originalMessageId, '<019ad5f2-3c4e-7a81-9b2c-5d6e7f801234@mail.example.com>')
    assert.deepEqual(report.originalTo, ['gone@example.net'])
    assert.equal(report.originalHeaders?.['x-hikyaku-delivery'], '019ad5f2-3c4e-7a81-9b2c-5d6e7f801234')
    assert.equal(report.from, 'MAILER-DAEMON@mta1.hikyaku-test.example')
    assert.deepEqual(parseReturnPath(secret, report.originalReturnPath!), { deliveryId: '019ad5f2-3c4e-7a81-9b2c-5d6e7f801234' })
  })

  it('a delay warning after a 4xx: action delayed, soft, original as text/rfc822-headers', async () => {
    const report = await parse(fixture('postfix-delayed-4.2.0.eml'), 'dsn')
    assert.equal(report.recipients.length, 1)
    assert.equal(report.recipients[0]!.action, 'delayed')
    assert.equal(report.recipients[0]!.status, '4.2.0')
    assert.equal(report.recipients[0]!.category, 'soft')
    assert.deepEqual(parseReturnPath(secret, report.originalReturnPath!), { deliveryId: '019ad5f2-3c4e-7a81-9b2c-5d6e7f805678' })
    assert.equal(report.originalMessageId, '<019ad5f2-3c4e-7a81-9b2c-5d6e7f805678@mail.example.com>')
  })

  it('two failed recipients in one report, each its own group', async () => {
    const report = await parse(fixture('postfix-two-recipients.eml'), 'dsn')
    assert.deepEqual(
      report.recipients.map((r) => [r.finalRecipient, r.action, r.category]),
      [
        ['gone.too@example.net', 'failed', 'hard'],
        ['gone@example.net', 'failed', 'hard'],
      ],
    )
    assert.deepEqual(report.originalTo, ['gone@example.net', 'gone.too@example.net', 'ok@example.net'])
  })
})

describe('parseReport: provider DSNs', () => {
  it('Gmail: a nested notification part, a folded multi-line reply, no Return-Path in the copy', async () => {
    const report = await parse(fixture('gmail-5.1.1.eml'), 'dsn')
    const [recipient] = report.recipients
    assert.equal(recipient?.finalRecipient, 'no.such.person@gmail.com')
    assert.equal(recipient?.category, 'hard')
    assert.match(recipient?.diagnostic ?? '', /^550-5\.1\.1 The email account that you tried to reach does not exist\. .* - gsmtp$/)
    assert.equal(report.originalReturnPath, undefined)
    assert.equal(report.originalMessageId, '<019ad5f2-3c4e-7a81-9b2c-5d6e7f80a001@mail.example.com>')
  })

  it('Microsoft: banned IP (5.7.606) and block list (5.7.1 S3150) are policy, not hard', async () => {
    const report = await parse(fixture('microsoft-5.7.606.eml'), 'dsn')
    assert.deepEqual(
      report.recipients.map((r) => [r.finalRecipient, r.status, r.category]),
      [
        ['buyer@contoso.com', '5.7.606', 'policy'],
        ['accounts@contoso.com', '5.7.1', 'policy'],
      ],
    )
    assert.match(report.recipients[0]!.diagnostic!, /banned sending IP \[203\.0\.113\.25\]\. To request removal/)
    assert.deepEqual(parseReturnPath(secret, report.originalReturnPath!), { deliveryId: '019ad5f2-3c4e-7a81-9b2c-5d6e7f80a002' })
  })

  it('mailbox full, as message/global-delivery-status in base64 with UTF-8 addresses', async () => {
    const report = await parse(fixture('mailbox-full-5.2.2.eml'), 'dsn')
    const [recipient] = report.recipients
    assert.equal(recipient?.finalRecipient, '田中@example.jp')
    assert.equal(recipient?.originalRecipient, '田中@example.jp') // written as \x{7530}\x{4E2D}
    assert.equal(recipient?.status, '5.2.2')
    assert.equal(recipient?.category, 'soft')
    assert.equal(report.subject, '配信失敗 / Undelivered Mail')
    assert.deepEqual(parseReturnPath(secret, report.originalReturnPath!), { deliveryId: '019ad5f2-3c4e-7a81-9b2c-5d6e7f80a003' })
  })

  it('tolerates odd case, tabs, type prefixes in brackets and a missing per-message group', async () => {
    const report = await parse(
      crlf([
        'From: postmaster@legacy.example',
        'Content-Type: MULTIPART/REPORT; Report-Type="delivery-status"; boundary=x',
        '',
        '--x',
        'Content-Type: Message/Delivery-Status',
        '',
        'final-recipient: RFC822; <Gone@Example.NET>',
        'ACTION: Failed',
        'status: 5.1.2',
        'diagnostic-code: X-Unix;',
        '\thost not found',
        'x-postfix-sender: rfc822; bounces+x@b.example',
        '',
        '',
        'Final-Recipient: rfc822;second@example.net',
        'Action: expanded',
        'Status: 2.0.0',
        '--x--',
      ]),
      'dsn',
    )
    assert.deepEqual(report.recipients, [
      { action: 'failed', category: 'hard', finalRecipient: 'Gone@Example.NET', status: '5.1.2', diagnostic: 'host not found' },
      { action: 'expanded', category: 'unknown', finalRecipient: 'second@example.net', status: '2.0.0' },
    ])
    // Postfix's envelope-sender field stands in for a returned copy that is missing.
    assert.equal(report.originalReturnPath, 'bounces+x@b.example')
  })
})

describe('parseReport: complaints (ARF)', () => {
  it('Yahoo: Received-Date, Original-Rcpt-To and the original as message/rfc822', async () => {
    const report: ArfReport = await parse(fixture('yahoo-arf.eml'), 'arf')
    assert.equal(report.feedbackType, 'abuse')
    assert.equal(report.userAgent, 'Yahoo!-Mail-Feedback/2.0')
    assert.deepEqual(report.originalRcptTo, ['reader@yahoo.com'])
    assert.equal(report.arrivalDate, 'Mon, 30 Nov 2026 14:55:02 +0000')
    assert.deepEqual(report.reportedDomain, ['mail.example.com'])
    assert.equal(report.originalMessageId, '<019ad5f2-3c4e-7a81-9b2c-5d6e7f80a004@mail.example.com>')
    assert.equal(report.originalHeaders?.['x-hikyaku-delivery'], '019ad5f2-3c4e-7a81-9b2c-5d6e7f80a004')
    assert.deepEqual(parseReturnPath(secret, report.originalReturnPath!), { deliveryId: '019ad5f2-3c4e-7a81-9b2c-5d6e7f80a004' })
    assert.equal(report.originalMailFrom, report.originalReturnPath)
  })

  it('Microsoft JMRP: an inline message/rfc822 copy is still read as headers, not folded into text', async () => {
    const report = await parse(fixture('microsoft-jmrp.eml'), 'arf')
    assert.equal(report.feedbackType, 'abuse')
    assert.equal(report.userAgent, 'Hotmail FBL')
    assert.equal(report.sourceIp, '203.0.113.25')
    assert.equal(report.originalRcptTo, undefined)
    assert.equal(report.originalMessageId, '<019ad5f2-3c4e-7a81-9b2c-5d6e7f80a005@mail.example.com>')
    assert.deepEqual(parseReturnPath(secret, report.originalReturnPath!), { deliveryId: '019ad5f2-3c4e-7a81-9b2c-5d6e7f80a005' })
  })

  it('a feedback-report without its report part is unrecognized', async () => {
    const raw = crlf([
      'Content-Type: multipart/report; report-type=feedback-report; boundary=x',
      '',
      '--x',
      'Content-Type: text/plain',
      '',
      'hi',
      '--x--',
    ])
    const report = await parse(raw, 'unrecognized')
    assert.equal(report.guess, undefined)
  })
})

describe('parseReport: non-standard bounces', () => {
  it('qmail: the address line, the remote reply and the copied Return-Path', async () => {
    const report: UnrecognizedReport = await parse(fixture('qmail-bounce.eml'), 'unrecognized')
    assert.deepEqual(report.guess, {
      category: 'hard',
      status: '5.1.1',
      code: 550,
      recipients: ['old.member@example.org'],
      diagnostic: '550 5.1.1 <old.member@example.org>... User unknown',
    })
    assert.equal(report.error, undefined)
    assert.deepEqual(parseReturnPath(secret, report.originalReturnPath!), { deliveryId: '019ad5f2-3c4e-7a81-9b2c-5d6e7f80a006' })
  })

  it('a plain-text "Delivery Status Notification (Failure)"', async () => {
    const report = await parse(fixture('plain-dsn-failure.eml'), 'unrecognized')
    assert.equal(report.guess?.category, 'hard')
    assert.equal(report.guess?.status, '5.1.1')
    assert.deepEqual(report.guess?.recipients, ['nobody.here@example.com'])
    assert.equal(report.originalMessageId, '<019ad5f2-3c4e-7a81-9b2c-5d6e7f80a007@mail.example.com>')
  })

  it('an out-of-office reply is not guessed to be a bounce', async () => {
    const report = await parse(fixture('autoreply.eml'), 'unrecognized')
    assert.equal(report.guess, undefined)
    assert.equal(report.subject, 'Out of office: Your weekly digest')
  })
})

describe('parseReport: garbage comes back unrecognized, quickly, without throwing', () => {
  const nested = (depth: number) => {
    let text = 'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n'
    for (let i = 1; i < depth; i++) text += `--b${i - 1}\r\nContent-Type: multipart/mixed; boundary="b${i}"\r\n\r\n`
    return Buffer.from(`${text}x\r\n`)
  }
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['random bytes', randomBytes(1024 * 1024)],
    ['NUL bytes', Buffer.alloc(64 * 1024)],
    ['3 MB message', Buffer.concat([crlf(['Subject: big', 'Content-Type: text/plain', '', '']), Buffer.alloc(3 * 1024 * 1024, 'a\r\n')])],
    ['10,000 nested multiparts', nested(10_000)],
    ['a 1 MB header', Buffer.from(`X-Big: ${'a'.repeat(1024 * 1024)}\r\n\r\nbody`)],
    [
      'a report part of 100,000 blank lines',
      Buffer.from(
        `Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\n${'\r\n'.repeat(100_000)}--x--`,
      ),
    ],
  ]
  for (const [name, raw] of cases) {
    it(name, async () => {
      const report = await parseReport(raw)
      assert.equal(report.kind, 'unrecognized')
      assert.equal(report.truncated, raw.length > 1024 * 1024 ? true : undefined)
    })
  }

  it('gives up after its time budget with a reason', async () => {
    const report = await parseReport(randomBytes(1024 * 1024), { timeoutMs: 0 })
    assert.deepEqual(report, { kind: 'unrecognized', error: 'parsing took too long' })
  })

  it('takes time roughly linear in the input (a quadratic step would be ~100x, not ~10x)', async () => {
    const unit = '<a@b.example>:\r\n550 550 550 5.5.5.5.5 ---------- <<<<@@@@ 4.4.4.4.4.4 Status: 5.1.1\r\n'
    const body = (bytes: number) =>
      Buffer.from(`From: MAILER-DAEMON@x.example\r\nSubject: failure notice\r\n\r\n${unit.repeat(bytes / unit.length)}`)
    const report = (bytes: number) => {
      const group = `Final-Recipient: rfc822; <a@b.example>\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550\r\n ${'<'.repeat(60)}\r\n\r\n`
      return Buffer.from(
        `Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\n${group.repeat(bytes / group.length)}--x--`,
      )
    }
    // Best of three runs each, so that one pause of the process does not decide the test.
    const best = async (raw: Buffer) => {
      let fastest = Number.POSITIVE_INFINITY
      for (let i = 0; i < 3; i++) {
        const started = performance.now()
        await parseReport(raw)
        fastest = Math.min(fastest, performance.now() - started)
      }
      return fastest
    }
    for (const make of [body, report]) {
      const small = await best(make(100_000))
      const large = await best(make(1_000_000))
      assert.ok(large < small * 30 + 250, `100 KB: ${small.toFixed(1)} ms, 1 MB: ${large.toFixed(1)} ms`)
    }
  })
})
