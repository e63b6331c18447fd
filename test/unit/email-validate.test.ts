import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { inspectSendInput, isProtectedHeader, MAX_REPLY_TO } from '../../src/modules/emails/email.validate.js'

const base = { from: 'Sender <sender@example.com>', subject: 'Hi', text: 'Hello' }
const limits = { maxRecipients: 5, maxMessageBytes: 1_000_000 }
const paths = (input: Record<string, unknown>, max = limits.maxRecipients) =>
  inspectSendInput({ ...base, ...input }, { ...limits, maxRecipients: max }).details.map((d) => d.path)

// Invalid addresses double as markers: a path in the details means that address was parsed.
const invalid = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}-${i}-without-at`)

describe('inspectSendInput: recipient count before parsing', () => {
  it('under the cap, every address is parsed and every mistake listed', () => {
    assert.deepEqual(paths({ to: ['a@example.net', 'nope'], cc: invalid(1, 'cc'), bcc: invalid(2, 'bcc') }), [
      '/to/1',
      '/cc/0',
      '/bcc/0',
      '/bcc/1',
    ])
  })

  it('over the cap, reports the count and parses only the first addresses up to the cap (to, cc, bcc order)', () => {
    const details = inspectSendInput(
      { ...base, to: ['a@example.net', 'nope', 'b@example.net'], cc: invalid(2, 'cc'), bcc: invalid(2, 'bcc') },
      limits,
    ).details
    assert.deepEqual(
      details.map((d) => d.path),
      ['/to', '/to/1', '/cc/0', '/cc/1'],
    )
    assert.match(details[0]?.message ?? '', /at most 5 recipients in to, cc and bcc together \(got 7\)/)
  })

  it('4,000 long adversarial addresses: only the first 50 are ever looked at', () => {
    const long = (i: number) => `${i}${' '.repeat(990)}a`
    const all = Array.from({ length: 4000 }, (_, i) => long(i))
    const listed = paths({ to: all.slice(0, 1000), cc: all.slice(1000, 2000), bcc: all.slice(2000) }, 50)
    assert.deepEqual(listed, ['/to', ...Array.from({ length: 50 }, (_, i) => `/to/${i}`)])
  })

  it('the cap counts the addresses of all three fields, strings and arrays alike', () => {
    assert.deepEqual(paths({ to: 'a@example.net', cc: ['b@example.net', 'c@example.net'], bcc: ['d@example.net', 'e@example.net'] }), [])
    assert.deepEqual(paths({ to: 'a@example.net', cc: ['b@example.net', 'c@example.net'], bcc: invalid(3, 'bcc') }), [
      '/to',
      '/bcc/0',
      '/bcc/1',
    ])
  })

  it('keeps the index the caller sent when an earlier item has the wrong type', () => {
    assert.deepEqual(paths({ to: [42, 'nope'] }), ['/to/1'])
  })

  it(`reply_to is capped at ${MAX_REPLY_TO}; addresses past the cap are not parsed`, () => {
    const listed = paths({ to: 'a@example.net', reply_to: invalid(MAX_REPLY_TO + 5, 'reply') })
    assert.deepEqual(listed, ['/reply_to', ...Array.from({ length: MAX_REPLY_TO }, (_, i) => `/reply_to/${i}`)])
    assert.deepEqual(paths({ to: 'a@example.net', reply_to: Array.from({ length: MAX_REPLY_TO }, (_, i) => `r${i}@example.com`) }), [])
  })
})

describe('protected headers', () => {
  const refused = [
    'Resent-From',
    'resent-message-id',
    'RESENT-DATE',
    'Authentication-Results',
    'ARC-Seal',
    'ARC-Message-Signature',
    'arc-authentication-results',
    'Content-Disposition',
    'DKIM-Signature',
    'DomainKey-Signature',
    'Content-Type',
    'Received',
    'X-Hikyaku-Route',
  ]
  const allowed = ['X-Campaign', 'List-Unsubscribe', 'Archived-At', 'X-Resent-From', 'X-Authentication-Results', 'Content-Language']

  for (const name of refused) {
    it(`refuses ${name}`, () => {
      assert.equal(isProtectedHeader(name), true)
      const [detail] = inspectSendInput({ ...base, to: 'a@example.net', headers: { [name]: 'x' } }, limits).details
      assert.deepEqual(detail?.path, `/headers/${name}`)
      assert.match(detail?.message ?? '', new RegExp(`^"${name}" is set by Hikyaku and cannot be overridden`))
    })
  }

  it('allows custom headers whose names only resemble protected ones', () => {
    for (const name of allowed) assert.equal(isProtectedHeader(name), false, name)
    const { draft, details } = inspectSendInput(
      { ...base, to: 'a@example.net', headers: Object.fromEntries(allowed.map((n) => [n, 'v'])) },
      limits,
    )
    assert.deepEqual(details, [])
    assert.deepEqual(Object.keys(draft?.headers ?? {}), allowed)
  })
})
