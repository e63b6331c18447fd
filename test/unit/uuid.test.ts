import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isUuid, uuidv7, uuidv7LowerBound, uuidv7Time } from '../../src/lib/uuid.js'

describe('uuidv7', () => {
  it('is a version 7, variant 10 UUID carrying its creation time', () => {
    const now = Date.now()
    const id = uuidv7(now)
    assert.ok(isUuid(id))
    assert.equal(id[14], '7')
    assert.ok(['8', '9', 'a', 'b'].includes(id[19] as string))
    assert.equal(uuidv7Time(id).getTime(), now)
  })
  it('sorts in creation order, also within one millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => uuidv7(1_700_000_000_000))
    assert.deepEqual([...ids].sort(), ids)
    assert.equal(new Set(ids).size, ids.length)
  })
})

describe('uuidv7LowerBound', () => {
  it('orders below every id of its millisecond and above every id of the one before', () => {
    // Far enough ahead that the generator's monotonic clock is not already past it.
    const t = Date.now() + 10 * 365 * 86_400_000
    const bound = uuidv7LowerBound(new Date(t))
    const previousMs = uuidv7LowerBound(new Date(t - 1))
      .replace(/0{12}$/, 'ffffffffffff')
      .replace('-7000-8000-', '-7fff-bfff-')
    assert.ok(uuidv7(t) >= bound)
    assert.ok(previousMs < bound, 'the largest id of the previous millisecond sorts below')
    assert.equal(uuidv7Time(bound).getTime(), t)
  })
})
