import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keepLeases } from '../../src/modules/delivery/lease-keeper.js'

const held = [
  { recipientId: 'r1', attempt: 1, attemptId: 'a1' },
  { recipientId: 'r2', attempt: 1, attemptId: 'a2' },
]
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('keepLeases', () => {
  it('renews every interval while all recipients are still held', async () => {
    let renewals = 0
    const lost: string[] = []
    const keeper = keepLeases({
      held,
      leaseMs: 2_000,
      intervalMs: 20,
      claimedAt: Date.now(),
      renew: async () => {
        renewals++
        return new Set(['r1', 'r2'])
      },
      onLost: (why) => lost.push(why),
    })
    await sleep(110)
    keeper.stop()
    assert.ok(renewals >= 3, `renewed ${renewals} times`)
    assert.deepEqual(lost, [])
    assert.equal(keeper.lost, false)
  })

  it('says the claim is lost when a renewal finds a recipient taken over, and stops renewing', async () => {
    let renewals = 0
    const lost: string[] = []
    const keeper = keepLeases({
      held,
      leaseMs: 2_000,
      intervalMs: 20,
      claimedAt: Date.now(),
      renew: async () => {
        renewals++
        return new Set(['r1'])
      },
      onLost: (why) => lost.push(why),
    })
    await sleep(100)
    keeper.stop()
    assert.deepEqual(lost, ['another worker took over this claim'])
    assert.equal(renewals, 1)
  })

  it('says the claim is lost once failing renewals let the lease run out, and not before', async () => {
    let now = 0
    const lost: string[] = []
    const keeper = keepLeases({
      held,
      leaseMs: 3_000,
      intervalMs: 10,
      claimedAt: 0,
      renew: async () => Promise.reject(new Error('database away')),
      onLost: (why) => lost.push(why),
      now: () => now,
    })
    now = 1_000
    await sleep(30)
    assert.deepEqual(lost, [], 'a failed renewal alone loses nothing while the lease holds')
    now = 2_996 // within the margin (half the interval here) of the lease's end
    await sleep(30)
    keeper.stop()
    assert.deepEqual(lost, ['the lease could not be renewed in time'])
  })
})
