import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKey, hashSecret, parseToken, secretMatches } from '../../src/modules/api-keys/api-key.token.js'

describe('API key tokens', () => {
  it('generates hk_<id>_<secret> that parses back, with only the hash to store', () => {
    const key = generateKey()
    assert.match(key.token, /^hk_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}$/)
    const parsed = parseToken(key.token)!
    assert.equal(parsed.keyId, key.keyId)
    assert.ok(secretMatches(parsed.secret, key.secretHash))
    assert.ok(!key.secretHash.toString('hex').includes(parsed.secret))
  })
  it('never generates the same key twice in a thousand draws', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => generateKey().token))
    assert.equal(tokens.size, 1000)
  })
  it('refuses malformed tokens', () => {
    for (const bad of ['', 'hk_', 'hk_abc_def', `sk_${'a'.repeat(12)}_${'b'.repeat(40)}`, `hk_${'a'.repeat(12)}_${'b'.repeat(39)}_`]) {
      assert.equal(parseToken(bad), undefined, bad)
    }
  })
  it('rejects a wrong secret', () => {
    assert.equal(secretMatches('x'.repeat(40), hashSecret('y'.repeat(40))), false)
  })
})
