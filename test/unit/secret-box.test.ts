import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createSecretBox } from '../../src/lib/secret-box.js'
import { sealV1 } from '../helpers/legacy-seal.js'

describe('secret box', () => {
  const box = createSecretBox('s3cret', 'dkim')
  const row = 'account:a1|domain:d1|purpose:dkim-rsa'

  it('opens what it sealed for the same row, and never seals the same way twice', () => {
    const a = box.seal('-----BEGIN PRIVATE KEY-----', row)
    assert.match(a, /^v2\.[\w-]+\.[\w-]+\.[\w-]+$/)
    assert.equal(box.open(a, row), '-----BEGIN PRIVATE KEY-----')
    assert.notEqual(box.seal('x', row), box.seal('x', row))
    assert.ok(!a.includes('PRIVATE'))
  })

  it('refuses a value sealed for another row, account or purpose', () => {
    const sealed = box.seal('key material', row)
    for (const other of [
      'account:a1|domain:d2|purpose:dkim-rsa',
      'account:a2|domain:d1|purpose:dkim-rsa',
      'account:a1|domain:d1|purpose:dkim-ed25519',
      '',
    ]) {
      assert.throws(() => box.open(sealed, other), `opened for ${other}`)
    }
  })

  it('refuses a tampered value, another secret and another purpose', () => {
    const sealed = box.seal('key material', row)
    const parts = sealed.split('.')
    parts[3] = Buffer.from('tampered').toString('base64url')
    assert.throws(() => box.open(parts.join('.'), row))
    assert.throws(() => createSecretBox('other', 'dkim').open(sealed, row))
    assert.throws(() => createSecretBox('s3cret', 'tokens').open(sealed, row))
  })

  it('refuses v1 values in open; openLegacy reads them for re-sealing', () => {
    const legacy = sealV1('s3cret', 'dkim', 'old key')
    assert.ok(box.isLegacy(legacy))
    assert.ok(!box.isLegacy(box.seal('new key', row)))
    assert.throws(() => box.open(legacy, row), /v1 sealed value.*hikyaku migrate/)
    assert.equal(box.openLegacy(legacy), 'old key')
    assert.throws(() => createSecretBox('other', 'dkim').openLegacy(legacy))
    assert.throws(() => box.openLegacy(box.seal('new key', row)), 'openLegacy reads v1 only')
  })
})
