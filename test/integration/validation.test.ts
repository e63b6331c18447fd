import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { after, before, describe, it } from 'node:test'
import { basicEmail, type Harness, startHarness } from '../helpers/harness.js'

/**
 * POST /v1/emails input validation (see the API reference): every rule answers 422 `validation_failed` with
 * the JSON Pointer of the field to fix, nothing is coerced or dropped, and sizes answer 413.
 */

/** What `h.send` answers: status, parsed body and headers. */
type Reply = Awaited<ReturnType<Harness['send']>>

/** The error envelope every error shares, with the request id echoed in `x-request-id`. */
function assertError(res: Reply, status: number, code: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`)
  assert.equal(res.body.error?.code, code)
  assert.equal(typeof res.body.error.message, 'string')
  assert.ok(res.body.error.message.length > 0, 'the error has a message')
  assert.equal(typeof res.body.request_id, 'string')
  assert.equal(res.headers['x-request-id'], res.body.request_id)
}

/**
 * 422 listing exactly the given paths, each message matching its pattern (what to fix).
 * Paths are compared as a set: the order of details is not part of the contract.
 */
function assertInvalid(res: Reply, expected: Record<string, RegExp>): void {
  assertError(res, 422, 'validation_failed')
  const details = res.body.error.details as Array<{ path: string; message: string }>
  assert.ok(Array.isArray(details), 'validation errors carry details')
  assert.deepEqual([...new Set(details.map((d) => d.path))].sort(), Object.keys(expected).sort(), JSON.stringify(details))
  for (const [path, pattern] of Object.entries(expected)) {
    const messages = details.filter((d) => d.path === path).map((d) => d.message)
    assert.ok(
      messages.some((m) => pattern.test(m)),
      `message for ${path} should match ${pattern}: ${JSON.stringify(messages)}`,
    )
  }
}

const addresses = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}@example.net`)
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString()
const attachment = (overrides: Record<string, unknown> = {}) => ({ filename: 'a.txt', content: 'aGVsbG8=', ...overrides })

describe('POST /v1/emails validation', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false })
  })
  after(async () => {
    await h.close()
  })

  it('missing from → /from is required', async () => {
    const { from: _omit, ...body } = basicEmail()
    assertInvalid(await h.send(body), { '/from': /required/ })
  })

  it('invalid from address → /from', async () => {
    assertInvalid(await h.send(basicEmail({ from: 'Sender <not-an-address>' })), { '/from': /not an email address/ })
  })

  it('CR/LF in the from display name → /from (header injection)', async () => {
    assertInvalid(await h.send(basicEmail({ from: 'Evil\r\nBcc: victim@example.org <sender@example.com>' })), {
      '/from': /line breaks/,
    })
    assertInvalid(await h.send(basicEmail({ from: 'Evil\nX: y <sender@example.com>' })), { '/from': /line breaks/ })
  })

  it('no recipient at all → /to', async () => {
    const { to: _omit, ...body } = basicEmail()
    assertInvalid(await h.send(body), { '/to': /at least one recipient/ })
    assertInvalid(await h.send(basicEmail({ to: [] })), { '/to': /at least one recipient/ })
  })

  it('invalid to address: string form → /to, array form → /to/<index>', async () => {
    assertInvalid(await h.send(basicEmail({ to: 'not-an-address' })), { '/to': /not an email address/ })
    assertInvalid(await h.send(basicEmail({ to: ['ok@example.net', 'nobody@'] })), { '/to/1': /not an email address/ })
  })

  it('invalid cc → /cc/<index>', async () => {
    assertInvalid(await h.send(basicEmail({ cc: ['copy@example.net', 'two@@example.net'] })), { '/cc/1': /invalid|not an email/ })
  })

  it('invalid bcc → /bcc', async () => {
    assertInvalid(await h.send(basicEmail({ bcc: 'hidden@exa mple.net' })), { '/bcc': /invalid domain/ })
  })

  it('invalid reply_to → /reply_to', async () => {
    assertInvalid(await h.send(basicEmail({ reply_to: 'reply-here' })), { '/reply_to': /not an email address/ })
  })

  it('more than 50 recipients in to, cc and bcc together → /to; exactly 50 is accepted', async () => {
    const tooMany = basicEmail({ to: addresses(30, 'to'), cc: addresses(15, 'cc'), bcc: addresses(6, 'bcc') })
    assertInvalid(await h.send(tooMany), { '/to': /at most 50 recipients.*got 51/ })
    const fifty = await h.send(basicEmail({ to: addresses(30, 'to'), cc: addresses(15, 'cc'), bcc: addresses(5, 'bcc') }))
    assert.equal(fifty.status, 202, JSON.stringify(fifty.body))
  })

  it('a ~4 MB body of 4,000 long addresses → 422 quickly, without parsing past the recipient cap', async () => {
    // Each one made the old address regex backtrack for about 2 ms: together, seconds of event loop.
    const long = (i: number) => `${i}${' '.repeat(990)}x`.padEnd(998, 'x')
    const all = Array.from({ length: 4000 }, (_, i) => long(i))
    const body = basicEmail({ to: all.slice(0, 1000), cc: all.slice(1000, 2000), bcc: all.slice(2000) })
    assert.ok(JSON.stringify(body).length > 4_000_000)

    const started = performance.now()
    const res = await h.send(body)
    const elapsed = performance.now() - started

    // Only the first 50 (the cap) were parsed: their mistakes are listed, no later address's is.
    // The schema reports /bcc, which holds more items than any configuration allows.
    const parsed = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`/to/${i}`, /not an email address/]))
    assertInvalid(res, { '/to': /at most 50 recipients in to, cc and bcc together \(got 4000\)/, '/bcc': /./, ...parsed })
    assert.ok(elapsed < 3000, `answered in ${Math.round(elapsed)} ms`)
  })

  it('more than 50 reply_to addresses → /reply_to', async () => {
    // The schema check reports it (its wording is the schema's), and none of them is parsed.
    assertInvalid(await h.send(basicEmail({ reply_to: addresses(51, 'reply') })), { '/reply_to': /./ })
  })

  it('subject missing → /subject is required', async () => {
    const { subject: _omit, ...body } = basicEmail()
    assertInvalid(await h.send(body), { '/subject': /required/ })
  })

  it('CR/LF in the subject → /subject', async () => {
    assertInvalid(await h.send(basicEmail({ subject: 'Hi\r\nBcc: victim@example.org' })), { '/subject': /line breaks/ })
  })

  it('neither text nor html → /text', async () => {
    const { text: _omit, ...body } = basicEmail()
    assertInvalid(await h.send(body), { '/text': /text, html or both/ })
    const htmlOnly = await h.send({ ...body, html: '<p>Hi</p>' })
    assert.equal(htmlOnly.status, 202, JSON.stringify(htmlOnly.body))
  })

  it('protected custom headers are refused, whatever their case', async () => {
    const trusted = ['Resent-From', 'resent-date', 'Authentication-Results', 'ARC-Seal', 'arc-message-signature', 'Content-Disposition']
    for (const name of ['Message-ID', 'dkim-signature', 'CONTENT-TYPE', 'From', 'Bcc', ...trusted]) {
      assertInvalid(await h.send(basicEmail({ headers: { [name]: 'x' } })), { [`/headers/${name}`]: /cannot be overridden/ })
    }
    const allowed = await h.send(basicEmail({ headers: { 'X-Campaign': 'spring', 'List-Unsubscribe': '<mailto:u@example.com>' } }))
    assert.equal(allowed.status, 202, JSON.stringify(allowed.body))
  })

  it('CR/LF in a custom header value → /headers/<name> (header injection)', async () => {
    assertInvalid(await h.send(basicEmail({ headers: { 'X-Custom': 'a\r\nBcc: victim@example.org' } })), {
      '/headers/X-Custom': /line breaks/,
    })
    assertInvalid(await h.send(basicEmail({ headers: { 'X-Custom': 'a\nb' } })), { '/headers/X-Custom': /line breaks/ })
  })

  it('invalid header name → /headers/<name>', async () => {
    assertInvalid(await h.send(basicEmail({ headers: { 'X Bad': 'v' } })), { '/headers/X Bad': /header names/ })
    assertInvalid(await h.send(basicEmail({ headers: { 'X:Bad': 'v' } })), { '/headers/X:Bad': /without ":"/ })
  })

  it('attachment content not base64 → /attachments/<i>/content', async () => {
    const res = await h.send(basicEmail({ attachments: [attachment(), attachment({ content: 'this is not base64!' })] }))
    assertInvalid(res, { '/attachments/1/content': /base64/ })
  })

  it('attachment without filename → /attachments/0/filename is required', async () => {
    assertInvalid(await h.send(basicEmail({ attachments: [{ content: 'aGVsbG8=' }] })), { '/attachments/0/filename': /required/ })
  })

  it('attachment content_id invalid → /attachments/0/content_id', async () => {
    assertInvalid(await h.send(basicEmail({ attachments: [attachment({ content_id: 'logo image' })] })), {
      '/attachments/0/content_id': /without spaces/,
    })
  })

  it('attachment content_type invalid → /attachments/0/content_type', async () => {
    assertInvalid(await h.send(basicEmail({ attachments: [attachment({ content_type: 'pdf' })] })), {
      '/attachments/0/content_type': /MIME type/,
    })
  })

  it('more than 10 tags → /tags', async () => {
    const tags = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`t${i}`, 'v']))
    assertInvalid(await h.send(basicEmail({ tags })), { '/tags': /at most 10 tags/ })
  })

  it('tag names and values with invalid characters → /tags/<name>', async () => {
    assertInvalid(await h.send(basicEmail({ tags: { 'bad key': 'ok' } })), { '/tags/bad key': /tag names use letters/ })
    assertInvalid(await h.send(basicEmail({ tags: { campaign: 'spring sale!' } })), { '/tags/campaign': /tag values use letters/ })
  })

  it('stream other than transactional or broadcast → /stream', async () => {
    assertInvalid(await h.send(basicEmail({ stream: 'marketing' })), { '/stream': /configured streams: transactional, broadcast/ })
  })

  it('scheduled_at that is not an RFC 3339 date-time → /scheduled_at', async () => {
    // '1' and a bare date are what Date.parse accepts but RFC 3339 does not; no offset is ambiguous.
    const tomorrow = inDays(1)
    for (const value of ['tomorrow', '2030-13-45T25:00:00Z', '1', tomorrow.slice(0, 10), tomorrow.slice(0, 19)]) {
      const res = await h.send(basicEmail({ scheduled_at: value }))
      assert.equal(
        res.status,
        422,
        `scheduled_at ${JSON.stringify(value)} should be refused, got ${res.status} ${JSON.stringify(res.body)}`,
      )
      assertInvalid(res, { '/scheduled_at': /RFC 3339|date-time/ })
    }
  })

  it('scheduled_at more than 30 days ahead → /scheduled_at; 29 days is accepted', async () => {
    assertInvalid(await h.send(basicEmail({ scheduled_at: inDays(31) })), { '/scheduled_at': /at most 30 days/ })
    const ok = await h.send(basicEmail({ scheduled_at: inDays(29) }))
    assert.equal(ok.status, 202, JSON.stringify(ok.body))
    assert.equal(ok.body.status, 'scheduled')
  })

  it('an unknown top-level field is refused, not silently dropped', async () => {
    assertInvalid(await h.send(basicEmail({ replyTo: 'r@example.com' })), { '/replyTo': /not a known field/ })
  })

  it('wrong JSON types are not coerced', async () => {
    assertInvalid(await h.send(basicEmail({ subject: 123 })), { '/subject': /must be a string/ })
    assertInvalid(await h.send(basicEmail({ text: true })), { '/text': /must be a string/ })
    assertInvalid(await h.send(basicEmail({ to: 42 })), { '/to': /must be a string or an array/ })
    assertInvalid(await h.send(basicEmail({ tags: { campaign: 1 } })), { '/tags/campaign': /must be a string/ })
  })

  it('text the database cannot store (NUL, an unpaired surrogate) → 422 naming the field, never 500', async () => {
    assertInvalid(await h.send(basicEmail({ text: 'nul \u0000 here' })), { '/text': /NUL/ })
    assertInvalid(await h.send(basicEmail({ subject: 'half \ud800 a pair' })), { '/subject': /Unicode/ })
    assertInvalid(await h.send(basicEmail({ headers: { 'X-Note': 'a\u0000b' } })), { '/headers/X-Note': /NUL/ })
  })

  it('several bad fields at once → every one listed', async () => {
    const res = await h.send({
      from: 'not-an-address',
      to: ['ok@example.net', 'bad@'],
      subject: 'Hi\nthere',
      headers: { 'Message-ID': '<x@example.com>' },
      tags: { 'bad key': 'v' },
      attachments: [attachment({ content: '%%%' })],
    })
    assertInvalid(res, {
      '/from': /not an email address/,
      '/to/1': /not an email address/,
      '/subject': /line breaks/,
      '/text': /text, html or both/,
      '/headers/Message-ID': /cannot be overridden/,
      '/tags/bad key': /tag names/,
      '/attachments/0/content': /base64/,
    })
    assert.match(res.body.error.message, /7 fields are invalid/)
  })

  it('schema errors and address errors together → both listed', async () => {
    // A wrong type must not hide the other mistakes of the same request.
    const res = await h.send(basicEmail({ from: 'not-an-address', subject: 123, nickname: 'x' }))
    assertInvalid(res, { '/from': /not an email address/, '/subject': /must be a string/, '/nickname': /not a known field/ })
  })

  it('an IDN domain is accepted and stored in A-label form', async () => {
    const res = await h.send(basicEmail({ to: 'kunde@bücher.example', cc: 'Tanaka <tanaka@例え.jp>' }))
    assert.equal(res.status, 202, JSON.stringify(res.body))
    const email = await h.getEmail(res.body.id)
    const recipients = (email.recipients as Array<{ address: string; kind: string }>).map((r) => [r.kind, r.address])
    assert.deepEqual(recipients.sort(), [
      ['cc', 'tanaka@xn--r8jz45g.jp'],
      ['to', 'kunde@xn--bcher-kva.example'],
    ])
    assert.deepEqual(email.to, ['kunde@xn--bcher-kva.example'])
    assert.deepEqual(email.cc, ['Tanaka <tanaka@xn--r8jz45g.jp>'])
  })

  it('"Name <addr>" is accepted for from, to and reply_to', async () => {
    const res = await h.send(
      basicEmail({
        from: 'Ada Lovelace <ada@example.com>',
        to: '"Babbage, Charles" <cb@example.net>',
        reply_to: 'Help <help@example.com>',
      }),
    )
    assert.equal(res.status, 202, JSON.stringify(res.body))
    const email = await h.getEmail(res.body.id)
    assert.equal(email.from, 'Ada Lovelace <ada@example.com>')
    assert.deepEqual(email.to, ['"Babbage, Charles" <cb@example.net>'])
    assert.deepEqual(email.reply_to, ['Help <help@example.com>'])
    assert.deepEqual(
      (email.recipients as Array<{ address: string }>).map((r) => r.address),
      ['cb@example.net'],
    )
  })

  it('to as a string and as an array', async () => {
    const one = await h.send(basicEmail({ to: 'single@example.net' }))
    assert.equal(one.status, 202, JSON.stringify(one.body))
    assert.equal(one.body.status, 'queued')
    assert.deepEqual((await h.getEmail(one.body.id)).to, ['single@example.net'])

    const many = await h.send(basicEmail({ to: ['first@example.net', 'Second <second@example.net>'] }))
    assert.equal(many.status, 202, JSON.stringify(many.body))
    const email = await h.getEmail(many.body.id)
    assert.deepEqual(email.to, ['first@example.net', 'Second <second@example.net>'])
    assert.deepEqual((email.recipients as Array<{ address: string }>).map((r) => r.address).sort(), [
      'first@example.net',
      'second@example.net',
    ])
  })

  it('a body that is not JSON → 422', async () => {
    const invalid = await h.request('POST', '/v1/emails', {
      headers: { ...h.auth, 'content-type': 'application/json' },
      payload: '{"from": "a@example.com", "to": ',
    })
    assertError(invalid, 422, 'validation_failed')
    assert.match(invalid.body.error.message, /not valid JSON/)

    const form = await h.request('POST', '/v1/emails', {
      headers: { ...h.auth, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'from=a%40example.com&to=b%40example.net',
    })
    assertError(form, 422, 'validation_failed')
    assert.match(form.body.error.message, /application\/json/)
  })
})

describe('POST /v1/emails size limits (MAX_MESSAGE_BYTES=20000)', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false, env: { MAX_MESSAGE_BYTES: '20000' } })
  })
  after(async () => {
    await h.close()
  })

  it('a body over the HTTP body limit → 413 payload_too_large', async () => {
    const res = await h.send(basicEmail({ text: 'x'.repeat(200_000) }))
    assertError(res, 413, 'payload_too_large')
  })

  it('a body under the HTTP limit whose attachment makes the message too large → 413', async () => {
    const body = basicEmail({ attachments: [{ filename: 'big.bin', content: randomBytes(18_000).toString('base64') }] })
    assert.ok(JSON.stringify(body).length < 40_000, 'the JSON body itself is well under the HTTP body limit')
    const res = await h.send(body)
    assertError(res, 413, 'payload_too_large')
    assert.match(res.body.error.message, /20000/)

    const small = await h.send(basicEmail({ attachments: [{ filename: 'small.bin', content: randomBytes(5_000).toString('base64') }] }))
    assert.equal(small.status, 202, JSON.stringify(small.body))
  })
})
