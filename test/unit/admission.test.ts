import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { refusedShare } from '../../src/http/plugins/rate-limit.js'

describe('admission control', () => {
  it('refuses nothing up to the configured depth, then a growing share, and everything at twice the depth', () => {
    assert.equal(refusedShare(0, 1000), 0)
    assert.equal(refusedShare(1000, 1000), 0)
    assert.equal(refusedShare(1500, 1000), 0.5)
    assert.equal(refusedShare(2000, 1000), 1)
    assert.equal(refusedShare(50_000, 1000), 1)
  })
})
