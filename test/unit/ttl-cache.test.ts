import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createTtlCache } from '../../src/lib/ttl-cache.js'

describe('ttl cache', () => {
  it('forgets entries after their ttl', () => {
    let now = 1_000
    const cache = createTtlCache<string>({ maxEntries: 10, now: () => now })
    cache.set('a', 'A', 100)
    assert.equal(cache.get('a'), 'A')
    now += 100
    assert.equal(cache.get('a'), undefined)
    assert.equal(cache.size, 0)
  })

  it('keeps at most maxEntries, dropping the least recently used', () => {
    const cache = createTtlCache<number>({ maxEntries: 2 })
    cache.set('a', 1, 60_000)
    cache.set('b', 2, 60_000)
    cache.get('a')
    cache.set('c', 3, 60_000)
    assert.equal(cache.get('b'), undefined)
    assert.equal(cache.get('a'), 1)
    assert.equal(cache.get('c'), 3)
    assert.equal(cache.size, 2)
  })
})
