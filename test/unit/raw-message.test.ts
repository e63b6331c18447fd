import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AppError } from '../../src/lib/errors.js'
import { bareCrBefore, hasEightBit, parseHeader, prependFields, removeFields } from '../../src/lib/raw-message.js'
import { draftFromSmtp } from '../../src/modules/emails/smtp-submission.js'

const crlf = (...lines: string[]) => Buffer.from(lines.join('\r\n'))

describe('raw messages', () => {
  const raw = crlf(
    'From: a@example.com',
    'To: b@example.net,',
    ' c@example.net',
    'Bcc: secret@example.net',
    'Subject: Hi',
    '',
    'Body line',
    'Bcc: not a header',
    '',
  )

  it('finds fields, unfolding continuation lines, and stops at the blank line', () => {
    const header = parseHeader(raw)
    assert.deepEqual(
      header.fields.map((f) => [f.key, f.value]),
      [
        ['from', 'a@example.com'],
        ['to', 'b@example.net, c@example.net'],
        ['bcc', 'secret@example.net'],
        ['subject', 'Hi'],
      ],
    )
    assert.equal(header.eol, '\r\n')
  })

  it('removes fields byte for byte, never touching the body', () => {
    const out = removeFields(raw, parseHeader(raw), (f) => f.key === 'bcc')
    assert.equal(out.toString(), raw.toString().replace('Bcc: secret@example.net\r\n', ''))
    assert.match(out.toString(), /Bcc: not a header/)
  })

  it('handles bare-LF messages and prepends in their own line ending', () => {
    const lf = Buffer.from('Subject: x\nFrom: a@b.c\n\nbody\n')
    const header = parseHeader(lf)
    assert.equal(header.eol, '\n')
    assert.equal(prependFields(lf, [['Message-ID', '<1@b.c>']], header.eol).toString(), `Message-ID: <1@b.c>\n${lf.toString()}`)
  })

  it('finds a CR not followed by LF before a given offset', () => {
    assert.equal(bareCrBefore(crlf('A: 1', 'B: 2', '', 'body'), 100), -1, 'CRLF only')
    assert.equal(bareCrBefore(Buffer.from('A: 1\nB: 2\n\nbody'), 100), -1, 'bare LF only')
    const sneaky = Buffer.from('A: 1\r\nX-Foo: bar\rFrom: ceo@bank.example\r\n\r\nbody')
    assert.equal(bareCrBefore(sneaky, sneaky.length), sneaky.indexOf('\rFrom'))
    assert.equal(bareCrBefore(sneaky, sneaky.indexOf('\rFrom')), -1, 'only before the offset')
    assert.equal(bareCrBefore(Buffer.from('A: 1\r\r\n'), 100), 4, 'a CR before a CRLF')
    assert.equal(bareCrBefore(Buffer.from('A: 1\r'), 100), 4, 'a CR that ends the buffer')
  })

  it('knows 8-bit content', () => {
    assert.equal(hasEightBit(Buffer.from('plain ascii')), false)
    assert.equal(hasEightBit(Buffer.from('飛脚')), true)
  })
})

describe('draftFromSmtp', () => {
  const envelope = { from: 'a@example.com', to: ['b@example.net', 'hidden@example.net'] }

  it('adds Message-ID and Date when the client left them out, and keeps every other byte', async () => {
    const raw = crlf('From: a@example.com', 'To: b@example.net', 'Subject: x', '', 'body', '')
    const now = new Date('2026-11-27T10:00:00Z')
    const s = await draftFromSmtp(raw, envelope, { now })
    assert.match(s.messageId, /^<[0-9a-f-]{36}@example\.com>$/)
    assert.equal(s.raw.toString(), `Message-ID: ${s.messageId}\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n${raw.toString()}`)
    assert.deepEqual(
      s.draft.recipients.map((r) => [r.address, r.kind]),
      [
        ['b@example.net', 'to'],
        ['hidden@example.net', 'bcc'],
      ],
    )
  })

  it('refuses a bare CR in the header section (one field to the check, two on the wire), not in the body', async () => {
    const sneaky = Buffer.from('From: me@example.com\r\nX-Foo: bar\rFrom: ceo@bank.example\r\nSubject: x\r\n\r\nbody\r\n')
    assert.equal(parseHeader(sneaky).fields.filter((f) => f.key === 'from').length, 1, 'parseHeader sees one From')
    await assert.rejects(
      draftFromSmtp(sneaky, envelope),
      (err: AppError) =>
        err.code === 'validation_failed' && err.details?.[0]?.path === '/headers' && /CRLF/.test(err.details?.[0]?.message ?? ''),
    )
    await assert.rejects(draftFromSmtp(Buffer.from('Subject: x\r\n\r\rFrom: ceo@bank.example\r\n\r\nb'), envelope), /CRLF/)
    const bodyCr = await draftFromSmtp(Buffer.from('From: a@example.com\r\nSubject: x\r\n\r\nline\rstill the body\r\n'), envelope)
    assert.match(bodyCr.raw.toString(), /line\rstill the body/, 'a bare CR in the body is left alone')
  })

  it('parses X-Hikyaku-Tags and refuses malformed ones with the header named', async () => {
    const ok = await draftFromSmtp(crlf('X-Hikyaku-Tags: a=1, b=two', 'Subject: x', '', 'b'), envelope)
    assert.deepEqual(ok.draft.tags, { a: '1', b: 'two' })
    await assert.rejects(draftFromSmtp(crlf('X-Hikyaku-Tags: a=1, oops', 'Subject: x', '', 'b'), envelope), /X-Hikyaku-Tags/)
  })

  it('gives a retry with a new Date and Message-ID the same idempotency fingerprint, and other bodies another', async () => {
    const msg = (date: string, id: string, body: string) =>
      crlf('X-Hikyaku-Idempotency-Key: k', `Date: ${date}`, `Message-ID: <${id}@x>`, 'Subject: s', '', body)
    const a = await draftFromSmtp(msg('Fri, 27 Nov 2026 10:00:00 +0000', '1', 'same'), envelope)
    const b = await draftFromSmtp(msg('Fri, 27 Nov 2026 10:05:00 +0000', '2', 'same'), envelope)
    const c = await draftFromSmtp(msg('Fri, 27 Nov 2026 10:00:00 +0000', '1', 'different'), envelope)
    assert.equal(a.idempotency?.fingerprint, b.idempotency?.fingerprint)
    assert.notEqual(a.idempotency?.fingerprint, c.idempotency?.fingerprint)
  })
})
