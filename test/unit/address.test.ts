import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatMailbox, parseMailbox } from '../../src/lib/address.js'

const ok = (input: string) => {
  const r = parseMailbox(input)
  assert.ok(r.ok, `${input}: ${!r.ok && r.reason}`)
  return r.mailbox
}
const bad = (input: string, reason: RegExp) => {
  const r = parseMailbox(input)
  assert.ok(!r.ok, `${input} should be refused`)
  assert.match(r.reason, reason)
}

describe('parseMailbox', () => {
  it('accepts a bare address and lower-cases the domain only', () => {
    assert.deepEqual(ok('Ada.Lovelace@Example.COM'), { address: 'Ada.Lovelace@example.com', domain: 'example.com' })
  })
  it('accepts "Name <addr>" and quoted names', () => {
    assert.deepEqual(ok('"Lovelace, Ada" <ada@example.com>'), { name: 'Lovelace, Ada', address: 'ada@example.com', domain: 'example.com' })
  })
  it('converts IDN domains to their A-label', () => {
    assert.equal(ok('info@日本語.jp').address, 'info@xn--wgv71a119e.jp')
  })
  it('accepts quoted local parts', () => {
    assert.equal(ok('"john doe"@example.com').address, '"john doe"@example.com')
  })
  it('refuses CR/LF anywhere', () => bad('ada@example.com\r\nBcc: x@evil.com', /line breaks/))
  it('refuses a missing @', () => bad('ada.example.com', /not an email address/))
  it('refuses a bad local part', () => bad('a..b@example.com', /local part/))
  it('refuses a single-label domain', () => bad('ada@localhost', /invalid domain/))
  it('refuses a domain with a bad label', () => bad('ada@-bad-.com', /invalid domain/))
  it('refuses unbalanced brackets', () => bad('Ada <ada@example.com', /angle brackets/))
  it('refuses a local part over 64 octets', () => bad(`${'a'.repeat(65)}@example.com`, /64 octets/))
})

describe('formatMailbox', () => {
  it('quotes names that need quoting', () => {
    assert.equal(
      formatMailbox({ name: 'Lovelace, Ada', address: 'a@example.com', domain: 'example.com' }),
      '"Lovelace, Ada" <a@example.com>',
    )
    assert.equal(formatMailbox({ name: 'Ada', address: 'a@example.com', domain: 'example.com' }), 'Ada <a@example.com>')
  })
})
