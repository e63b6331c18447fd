import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LAST_TRY_MARGIN_MS, nextAttempt } from '../../src/modules/delivery/retry.schedule.js'

const policy = { scheduleMs: [60_000, 300_000, 900_000], jitter: 0.1 }
const now = new Date('2026-01-01T00:00:00Z')
const far = new Date('2026-02-01T00:00:00Z')

describe('nextAttempt', () => {
  it('follows the schedule step for the attempt just made', () => {
    const mid = () => 0.5 // no jitter
    assert.deepEqual(nextAttempt(policy, 1, now, far, mid), { retry: true, at: new Date(now.getTime() + 60_000) })
    assert.deepEqual(nextAttempt(policy, 2, now, far, mid), { retry: true, at: new Date(now.getTime() + 300_000) })
  })
  it('repeats the last step', () => {
    const decision = nextAttempt(policy, 9, now, far, () => 0.5)
    assert.equal(decision.retry && decision.at.getTime() - now.getTime(), 900_000)
  })
  it('spreads retries by at most ±10%', () => {
    const low = nextAttempt(policy, 1, now, far, () => 0)
    const high = nextAttempt(policy, 1, now, far, () => 0.999999)
    assert.equal(low.retry && low.at.getTime() - now.getTime(), 54_000)
    assert.ok(high.retry && high.at.getTime() - now.getTime() <= 66_000 && high.at.getTime() - now.getTime() > 65_000)
  })
  it('shortens the last step to end just before expiry, while a claim still takes it', () => {
    const expires = new Date(now.getTime() + 10_000)
    assert.deepEqual(
      nextAttempt(policy, 1, now, expires, () => 0.5),
      {
        retry: true,
        at: new Date(expires.getTime() - LAST_TRY_MARGIN_MS),
      },
    )
  })
  it('gives up once expiry has passed, or is too close for another try', () => {
    assert.deepEqual(nextAttempt(policy, 3, now, now), { retry: false })
    assert.deepEqual(nextAttempt(policy, 3, now, new Date(now.getTime() + LAST_TRY_MARGIN_MS)), { retry: false })
  })
})
