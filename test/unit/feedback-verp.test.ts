import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { complaintAddress, isComplaintAddress, parseReturnPath, returnPath } from '../../src/modules/feedback/verp.js'

const secret = 'fixture-secret'
const id = '019ad5f2-3c4e-7a81-9b2c-5d6e7f801234'

describe('returnPath', () => {
  it('has the documented shape: 32 hex digits, a 13-character base32 tag, at most 64 octets', () => {
    const address = returnPath(secret, id, 'bounces.example.com')
    assert.match(address, /^bounces\+019ad5f23c4e7a819b2c5d6e7f801234-[a-z2-7]{13}@bounces\.example\.com$/)
    assert.ok(address.split('@')[0]!.length <= 64)
  })

  it('is stable for one secret and differs across secrets and deliveries', () => {
    // The address the real Postfix fixtures were made with: changing the derivation breaks them.
    assert.equal(
      returnPath(secret, id, 'bounces.example.com'),
      'bounces+019ad5f23c4e7a819b2c5d6e7f801234-6b4zy6mysqc3d@bounces.example.com',
    )
    const tag = (s: string, d: string) => returnPath(s, d, 'x.example').split('-').at(-1)
    assert.notEqual(tag(secret, id), tag('another-secret', id))
    assert.notEqual(tag(secret, id), tag(secret, '019ad5f2-3c4e-7a81-9b2c-5d6e7f801235'))
  })

  it('accepts an upper-case delivery id and refuses what is not a UUID or an empty secret', () => {
    assert.equal(returnPath(secret, id.toUpperCase(), 'b.example'), returnPath(secret, id, 'b.example'))
    assert.throws(() => returnPath(secret, 'not-a-uuid', 'b.example'), /UUID/)
    assert.throws(() => returnPath('', id, 'b.example'), /HIKYAKU_SECRET/)
  })
})

describe('parseReturnPath', () => {
  const address = returnPath(secret, id, 'bounces.example.com')

  it('returns the delivery id for a return path it signed', () => {
    assert.deepEqual(parseReturnPath(secret, address), { deliveryId: id })
  })

  it('ignores case, angle brackets and surrounding spaces (MTAs and Return-Path headers)', () => {
    assert.deepEqual(parseReturnPath(secret, address.toUpperCase()), { deliveryId: id })
    assert.deepEqual(parseReturnPath(secret, ` <${address}> `), { deliveryId: id })
  })

  it('refuses another secret, a changed id or tag, and other shapes', () => {
    const [local, domain] = address.split('@') as [string, string]
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1)
    const refused = [
      parseReturnPath('another-secret', address),
      parseReturnPath(secret, `${flip(local, 10)}@${domain}`), // id changed
      parseReturnPath(secret, `${flip(local, local.length - 1)}@${domain}`), // tag changed
      parseReturnPath(secret, `${local.slice(0, -1)}@${domain}`), // tag truncated
      parseReturnPath(secret, `${local}a@${domain}`), // tag too long
      parseReturnPath(secret, `${local.replace('bounces+', 'bounce+')}@${domain}`),
      parseReturnPath(secret, `${local.replace('-', '_')}@${domain}`),
      parseReturnPath(secret, `bounces+${id}-${local.split('-')[1]}@${domain}`), // hyphenated id
      parseReturnPath(secret, `bounces+${'g'.repeat(32)}-${'a'.repeat(13)}@${domain}`),
      parseReturnPath(secret, local), // no domain
      parseReturnPath(secret, `@${domain}`),
      parseReturnPath(secret, `${local}@`),
      parseReturnPath(secret, ''),
      parseReturnPath(secret, 'postmaster@bounces.example.com'),
    ]
    for (const [i, result] of refused.entries()) assert.equal(result, undefined, `case ${i}`)
  })

  it('refuses a local part longer than 64 characters and very long input without work', () => {
    assert.equal(parseReturnPath(secret, `${'b'.repeat(65)}@x.example`), undefined)
    const long = `${'bounces+'.repeat(100_000)}@x.example`
    const started = performance.now()
    for (let i = 0; i < 100; i++) assert.equal(parseReturnPath(secret, long), undefined)
    assert.ok(performance.now() - started < 2_000)
  })

  it('throws for an empty secret rather than verifying against nothing', () => {
    assert.throws(() => parseReturnPath('', address), /HIKYAKU_SECRET/)
  })
})

describe('complaint address', () => {
  it('is fbl@ on the bounce domain', () => {
    assert.equal(complaintAddress('bounces.example.com'), 'fbl@bounces.example.com')
  })

  it('recognises fbl@ in any case, optionally only on given domains', () => {
    assert.equal(isComplaintAddress('fbl@bounces.example.com'), true)
    assert.equal(isComplaintAddress('<FBL@Bounces.Example.com>'), true)
    assert.equal(isComplaintAddress('FBL@Bounces.Example.com', ['bounces.example.com']), true)
    assert.equal(isComplaintAddress('fbl@other.example', ['bounces.example.com']), false)
    assert.equal(isComplaintAddress('fbl2@bounces.example.com'), false)
    assert.equal(isComplaintAddress('xfbl@bounces.example.com'), false)
    assert.equal(isComplaintAddress('fbl'), false)
    assert.equal(isComplaintAddress(returnPath(secret, id, 'bounces.example.com')), false)
  })
})
