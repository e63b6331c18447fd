import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { describe, it } from 'node:test'
import { createByteBudget, readCapped } from '../../src/lib/byte-budget.js'

describe('byte budget', () => {
  it('grants reservations up to the limit, refuses past it, and is free again once they are released', () => {
    const budget = createByteBudget(100)
    const a = budget.reserve(60)
    const b = budget.reserve(40)
    assert.ok(a && b)
    assert.equal(budget.used, 100)
    assert.equal(budget.reserve(1), undefined, 'full')
    a.release()
    assert.equal(budget.used, 40)
    const c = budget.reserve(60)
    assert.ok(c)
    b.release()
    c.release()
    assert.equal(budget.used, 0)
    assert.equal(budget.holders, 0)
  })

  it('counts a reservation released twice (or more) only once', () => {
    const budget = createByteBudget(100)
    const a = budget.reserve(30)
    const b = budget.reserve(30)
    assert.ok(a && b)
    a.release()
    a.release()
    a.release()
    assert.equal(budget.used, 30)
    assert.equal(budget.holders, 1)
    assert.equal(a.grow(10), false, 'a released reservation cannot grow again')
    b.release()
    assert.equal(budget.used, 0)
  })

  it('admits one reservation larger than the whole budget when nothing else is held, and nothing beside it', () => {
    const budget = createByteBudget(100)
    const big = budget.reserve(250)
    assert.ok(big, 'alone, a request larger than the budget still goes')
    assert.equal(budget.used, 250)
    assert.equal(budget.reserve(1), undefined)
    assert.equal(budget.reserve(0), undefined, 'past the limit, even an empty reservation waits')
    big.release()
    const small = budget.reserve(10)
    assert.ok(small)
    assert.equal(budget.reserve(100), undefined, 'no longer alone: the limit holds')
    small.release()
  })

  it('grows a reservation chunk by chunk; alone it may pass the limit, beside others it may not', () => {
    const budget = createByteBudget(100)
    const a = budget.reserve(0)
    assert.ok(a)
    assert.ok(a.grow(80))
    assert.ok(a.grow(80), 'the only holder of bytes may grow past the limit')
    assert.equal(a.bytes, 160)
    a.release()
    const b = budget.reserve(0)
    const c = budget.reserve(50)
    assert.ok(b && c)
    assert.ok(b.grow(50))
    assert.equal(b.grow(1), false)
    assert.equal(b.bytes, 50, 'a refused grow adds nothing')
    b.release()
    c.release()
    assert.equal(budget.used, 0)
  })

  it('refuses a budget that is not positive', () => {
    assert.throws(() => createByteBudget(0), RangeError)
  })
})

describe('readCapped', () => {
  const feed = (chunks: Buffer[], opts: { sizeExceeded?: boolean } = {}) => {
    const stream = Object.assign(new PassThrough(), opts)
    setImmediate(() => {
      for (const chunk of chunks) stream.write(chunk)
      stream.end()
    })
    return stream
  }

  it('returns the whole message and charges the budget `weight` bytes per byte until released', async () => {
    const budget = createByteBudget(1000)
    const read = await readCapped(feed([Buffer.from('hello '), Buffer.from('world')]), 100, budget, 4)
    assert.ok(typeof read === 'object')
    assert.equal(read.raw.toString(), 'hello world')
    assert.equal(budget.used, 44)
    read.reservation.release()
    assert.equal(budget.used, 0)
  })

  it('refuses an oversize message after reading it to its end, holding nothing', async () => {
    const budget = createByteBudget(1000)
    const stream = feed([Buffer.alloc(60), Buffer.alloc(60)])
    assert.equal(await readCapped(stream, 100, budget), 'too_big')
    assert.ok(stream.readableEnded, 'consumed to its end')
    assert.equal(budget.used, 0)
    assert.equal(await readCapped(feed([Buffer.alloc(10)], { sizeExceeded: true }), 100, budget), 'too_big')
    assert.equal(budget.used, 0)
    assert.equal(budget.holders, 0)
  })

  it('answers no_room when other messages hold the budget, and gives back what it took', async () => {
    const budget = createByteBudget(100)
    const other = budget.reserve(50)
    assert.equal(await readCapped(feed([Buffer.alloc(10), Buffer.alloc(10), Buffer.alloc(10)]), 1000, budget, 2), 'no_room')
    assert.equal(budget.used, 50)
    other?.release()
    assert.equal(budget.used, 0)
  })

  it('answers no_room without reserving when the budget is already over its limit', async () => {
    const budget = createByteBudget(100)
    const big = budget.reserve(150)
    assert.equal(await readCapped(feed([Buffer.alloc(1)]), 1000, budget), 'no_room')
    big?.release()
    assert.equal(budget.holders, 0)
  })

  it('stops a message that dribbles in past the time limit: too_slow at once, nothing held, later chunks discarded', async () => {
    const budget = createByteBudget(1000)
    const stream = new PassThrough()
    // One chunk every 20 ms: never idle for long, but never done either.
    const dribble = setInterval(() => stream.write(Buffer.alloc(1)), 20)
    try {
      const started = Date.now()
      const read = readCapped(stream, 1000, budget, 6, 200)
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.ok(budget.used > 0, 'what arrived is charged while it arrives')
      assert.equal(await read, 'too_slow')
      const took = Date.now() - started
      assert.ok(took >= 190 && took < 1000, `answered at the limit, not at the end of the stream (${took} ms)`)
      assert.equal(budget.used, 0, 'the reservation is released')
      assert.equal(budget.holders, 0)
      await new Promise((resolve) => setTimeout(resolve, 60))
      assert.equal(budget.used, 0, 'chunks after the limit are not charged')
    } finally {
      clearInterval(dribble)
    }
    stream.destroy(new Error('connection closed'))
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(budget.used, 0)
  })

  it('a message that ends within the time limit is returned as usual', async () => {
    const budget = createByteBudget(1000)
    const read = await readCapped(feed([Buffer.from('quick')]), 100, budget, 1, 5_000)
    assert.ok(typeof read === 'object')
    assert.equal(read.raw.toString(), 'quick')
    read.reservation.release()
  })

  it('gives the budget back when the stream fails', async () => {
    const budget = createByteBudget(100)
    const stream = new PassThrough()
    const read = readCapped(stream, 1000, budget)
    stream.write(Buffer.alloc(10))
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(budget.used, 10)
    stream.destroy(new Error('connection reset'))
    await assert.rejects(read, /connection reset/)
    assert.equal(budget.used, 0)
  })
})
