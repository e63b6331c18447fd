import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createLogger } from '../../src/infra/logger.js'
import { createProducerRedis, type Redis } from '../../src/infra/redis.js'
import { createDeliveryDispatcher } from '../../src/queue/delivery.queue.js'
import { TEST_REDIS_URL } from '../helpers/env.js'

/**
 * The sweeper's re-dispatch against a real Redis: of the jobs it names, only those missing from
 * their lane are added, so a deep backlog waiting in its queue is not re-added at every sweep.
 */
describe('re-dispatching only missing delivery jobs', () => {
  const prefix = `hk-test-${randomUUID()}`
  let redis: Redis
  let dispatcher: ReturnType<typeof createDeliveryDispatcher>

  before(() => {
    redis = createProducerRedis(TEST_REDIS_URL, createLogger('silent'))
    dispatcher = createDeliveryDispatcher({ redis, prefix, logger: createLogger('silent'), streams: (s) => s === 'broadcast' })
  })
  after(async () => {
    await dispatcher.close()
    const keys = await redis.keys(`${prefix}:*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })

  it('adds the jobs that are not in their lane and leaves the waiting and delayed ones alone', async () => {
    const job = (stream: string, runAt?: Date) => ({ deliveryId: randomUUID(), attempt: 1, stream, ...(runAt ? { runAt } : {}) })
    const waiting = [job('transactional'), job('broadcast'), job('broadcast')]
    const delayed = job('broadcast', new Date(Date.now() + 3_600_000))
    await dispatcher.dispatch([...waiting, delayed])
    const lost = waiting[1] as (typeof waiting)[number]
    assert.equal(await redis.del(`${prefix}:delivery-broadcast:dlv-${lost.deliveryId}-1`), 1, 'the job was where the lane keeps it')
    const never = job('transactional')
    const retried = { ...(waiting[0] as (typeof waiting)[number]), attempt: 2 }

    assert.equal(await dispatcher.redispatch([...waiting, delayed, never, retried]), 3)
    const exists = async (queue: string, id: string, attempt = 1) => redis.exists(`${prefix}:${queue}:dlv-${id}-${attempt}`)
    assert.equal(await exists('delivery-broadcast', lost.deliveryId), 1, 'the lost job is back')
    assert.equal(await exists('delivery', never.deliveryId), 1)
    assert.equal(await exists('delivery', retried.deliveryId, 2), 1, 'a later attempt is a job of its own')
    assert.equal(await dispatcher.redispatch([...waiting, delayed, never, retried]), 0, 'a second sweep finds every job in place')
  })
})
