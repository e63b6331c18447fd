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

  it('onFailure settles each item of a failed batch as it says, without re-running anything', async () => {
    let runs = 0
    const b = createBatcher<string, string>({
      maxBatchSize: 100,
      concurrency: 1,
      isolateFailures: true,
      run: async () => {
        runs++
        throw new Error('connection lost')
      },
      onFailure: async (items) =>
        items.map((i) =>
          i.startsWith('kept') ? { ok: true as const, value: `${i}!` } : { ok: false as const, error: new Error(`lost ${i}`) },
        ),
    })
    const results = await Promise.allSettled(['kept-1', 'gone', 'kept-2'].map((i) => b.push(i)))
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
      ['kept-1!', 'lost gone', 'kept-2!'],
    )
    assert.equal(runs, 1, 'no item was run again')
  })

  it("onFailure 'isolate' re-runs items alone and is asked again about an item that fails alone", async () => {
    const asked: string[][] = []
    const b = createBatcher<string, string>({
      maxBatchSize: 100,
      concurrency: 1,
      run: async (items) => {
        if (items.includes('dup') || items.includes('bad'))
          throw Object.assign(new Error('row failed'), { item: items.length === 1 ? items[0] : undefined })
        return items.map((i) => i.toUpperCase())
      },
      onFailure: async (items, err) => {
        asked.push(items)
        if (items.length > 1) return 'isolate'
        // An item alone: 'dup' counts as done, anything else is isolated (which rejects it).
        return (err as { item?: string }).item === 'dup' ? [{ ok: true, value: 'DUP (already there)' }] : 'isolate'
      },
    })
    const results = await Promise.allSettled(['a', 'dup', 'bad', 'c'].map((i) => b.push(i)))
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected')),
      ['A', 'DUP (already there)', 'rejected', 'C'],
    )
    assert.deepEqual(asked, [['a', 'dup', 'bad', 'c'], ['dup'], ['bad']])
  })

  it('a hook that throws, or answers for the wrong number of items, rejects every item with the run error', async () => {
    for (const onFailure of [
      async () => {
        throw new Error('hook broke')
      },
      async () => [{ ok: true as const, value: 'only one' }],
    ]) {
      const b = createBatcher<string, string>({
        maxBatchSize: 100,
        concurrency: 1,
        run: async () => {
          throw new Error('run failed')
        },
        onFailure,
      })
      const results = await Promise.allSettled(['x', 'y'].map((i) => b.push(i)))
      assert.deepEqual(
        results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.value)),
        ['run failed', 'run failed'],
      )
    }
  })

  it('without isolateFailures or a hook, a failed batch fails every caller', async () => {
    let runs = 0
    const b = createBatcher<string, string>({
      maxBatchSize: 100,
      concurrency: 1,
      run: async () => {
        runs++
        throw new Error('down')
      },
    })
    const results = await Promise.allSettled(['x', 'y', 'z'].map((i) => b.push(i)))
    assert.ok(results.every((r) => r.status === 'rejected'))
    assert.equal(runs, 1)
  })
})
