import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isUuid, uuidv7, uuidv7Time } from '../../src/lib/uuid.js'

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
