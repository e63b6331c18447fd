import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createSemaphore } from '../../src/lib/semaphore.js'

describe('createSemaphore', () => {
  it('admits up to its capacity, then in arrival order as units are released', async () => {
    const s = createSemaphore(10)
    assert.equal(await s.acquire(6), true)
    const order: string[] = []
    const big = s.acquire(8).then(() => order.push('big'))
    const small = s.acquire(1).then(() => order.push('small'))
    await new Promise((resolve) => setImmediate(resolve))
    // The small one would fit, but the big one came first and is not starved.
    assert.deepEqual(order, [])
    s.release(6)
    await Promise.all([big, small])
    assert.deepEqual(order, ['big', 'small'])
    assert.equal(s.used, 9)
  })

  it('lets one request larger than the capacity through alone', async () => {
    const s = createSemaphore(10)
    assert.equal(await s.acquire(25), true)
    assert.equal(s.tryAcquire(1), false)
    s.release(25)
    assert.equal(s.tryAcquire(1), true)
  })

  it('gives up after its timeout or on abort, and then lets the next waiter in', async () => {
    const s = createSemaphore(2)
    assert.equal(await s.acquire(2), true)
    assert.equal(await s.acquire(1, { timeoutMs: 20 }), false)
    const controller = new AbortController()
    const aborted = s.acquire(2, { signal: controller.signal })
    const next = s.acquire(1)
    controller.abort()
    assert.equal(await aborted, false)
    s.release(1)
    assert.equal(await next, true)
    assert.equal(s.waiting, 0)
  })
})
