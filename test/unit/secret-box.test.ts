import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createSecretBox } from '../../src/lib/secret-box.js'

describe('secret box', () => {
  const box = createSecretBox('s3cret', 'dkim')

  it('opens what it sealed, and never seals the same way twice', () => {
    const a = box.seal('-----BEGIN PRIVATE KEY-----')
    assert.equal(box.open(a), '-----BEGIN PRIVATE KEY-----')
    assert.notEqual(box.seal('x'), box.seal('x'))
    assert.ok(!a.includes('PRIVATE'))
  })

  it('refuses a tampered value, another secret and another purpose', () => {
    const sealed = box.seal('key material')
    const parts = sealed.split('.')
    parts[3] = Buffer.from('tampered').toString('base64url')
    assert.throws(() => box.open(parts.join('.')))
    assert.throws(() => createSecretBox('other', 'dkim').open(sealed))
    assert.throws(() => createSecretBox('s3cret', 'tokens').open(sealed))
  })
})
