import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseStreams, streamsOf } from '../../src/modules/streams/streams.js'
import { laneQueueName } from '../../src/queue/delivery.queue.js'

describe('STREAMS', () => {
  const defaults = { concurrency: 50, pool: 10 }

  it('always has transactional and broadcast, with the defaults', () => {
    const { streams, problems } = parseStreams('', defaults)
    assert.deepEqual(problems, [])
    assert.deepEqual(
      streams.map((s) => [s.name, s.kind, s.concurrency, s.pool, s.rate, s.quota]),
      [
        ['transactional', 'transactional', 50, 10, undefined, undefined],
        ['broadcast', 'broadcast', 50, 10, undefined, undefined],
      ],
    )
  })

  it('reads settings and operator-defined streams', () => {
    const { streams, problems } = parseStreams(
      'broadcast concurrency=20 pool=5 rate=200/s day=1000; newsletters kind=broadcast month=5',
      defaults,
    )
    assert.deepEqual(problems, [])
    const s = streamsOf(streams)
    assert.deepEqual(s.get('broadcast'), {
      name: 'broadcast',
      kind: 'broadcast',
      concurrency: 20,
      pool: 5,
      rate: { max: 200, durationMs: 1000 },
      quota: { day: 1000 },
    })
    assert.equal(s.isBroadcast('newsletters'), true)
    assert.deepEqual(s.get('newsletters')?.quota, { month: 5 })
    assert.equal(s.isBroadcast('transactional'), false)
    assert.equal(s.isBroadcast('gone'), false, 'a stream no longer configured is treated as transactional')
  })

  it('says what is wrong with a bad entry', () => {
    const { problems } = parseStreams('Bad!; broadcast kind=transactional; alerts rate=fast; x concurrency=0', defaults)
    assert.equal(problems.length, 4, problems.join('\n'))
    assert.match(problems[0] as string, /not a stream name/)
    assert.match(problems[1] as string, /kind of a built-in stream cannot change/)
    assert.match(problems[2] as string, /"rate=fast" is not a stream setting/)
  })

  it('maps a stream to its lane: transactional keeps the queue every job used before lanes', () => {
    assert.equal(laneQueueName(undefined), 'delivery')
    assert.equal(laneQueueName('transactional'), 'delivery')
    assert.equal(laneQueueName('broadcast'), 'delivery-broadcast')
    assert.equal(
      laneQueueName('gone', (n) => n === 'broadcast'),
      'delivery',
      'an unknown stream falls back to the transactional lane',
    )
  })
})
