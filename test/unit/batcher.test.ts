import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createBatcher } from '../../src/lib/batcher.js'

describe('createBatcher', () => {
  it('runs a lone item at once and groups the items that arrive while a batch runs', async () => {
    const batches: number[][] = []
    const b = createBatcher<number, number>({
      maxBatchSize: 100,
      concurrency: 1,
      run: async (items) => {
        batches.push(items)
        await new Promise((resolve) => setTimeout(resolve, 10))
        return items.map((i) => i * 2)
      },
    })
    const first = b.push(1)
    await new Promise((resolve) => setImmediate(resolve))
    const rest = [2, 3, 4].map((i) => b.push(i))
    assert.deepEqual(await Promise.all([first, ...rest]), [2, 4, 6, 8])
    assert.deepEqual(batches, [[1], [2, 3, 4]])
  })

  it('caps a batch by weight, letting a single heavy item through alone', async () => {
    const batches: number[][] = []
    const b = createBatcher<number, void>({
      maxBatchSize: 100,
      concurrency: 1,
      weight: (w) => w,
      maxBatchWeight: 10,
      run: async (items) => {
        batches.push(items)
        return items.map(() => undefined)
      },
    })
    await Promise.all([4, 4, 4, 50, 1].map((w) => b.push(w)))
    assert.deepEqual(batches, [[4, 4], [4], [50], [1]])
  })

  it('with isolateFailures, one bad item fails only its own caller', async () => {
    const b = createBatcher<string, string>({
      maxBatchSize: 100,
      concurrency: 1,
      isolateFailures: true,
      run: async (items) => {
        if (items.includes('bad')) throw new Error('bad row')
        return items.map((i) => i.toUpperCase())
      },
    })
    const results = await Promise.allSettled(['a', 'bad', 'c'].map((i) => b.push(i)))
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    )
  })
})
