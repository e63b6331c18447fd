import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { admissionDelay, refusedShare } from '../../src/lib/admission.js'

describe('admission control', () => {
  it('refuses nothing up to the configured depth, then a growing share, and everything at twice the depth', () => {
    assert.equal(refusedShare(0, 1000), 0)
    assert.equal(refusedShare(1000, 1000), 0)
    assert.equal(refusedShare(1500, 1000), 0.5)
    assert.equal(refusedShare(2000, 1000), 1)
    assert.equal(refusedShare(50_000, 1000), 1)
  })

  it('admits everything up to the depth and spreads the waits of those it refuses over 1-3 s', () => {
    assert.equal(
      admissionDelay(1000, 1000, () => 0),
      undefined,
    )
    assert.equal(
      admissionDelay(5000, 1000, () => 0),
      1,
    )
    assert.equal(
      admissionDelay(5000, 1000, () => 0.99),
      3,
    )
    assert.equal(
      admissionDelay(1500, 1000, () => 0.6),
      undefined,
      'at 1.5x the depth, 40% get through',
    )
  })
})
