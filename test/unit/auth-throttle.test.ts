import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createAuthThrottle } from '../../src/smtp/auth-throttle.js'

describe('SMTP auth throttle', () => {
  it('answers the first failures at once, then slower, then refuses the address for the block time', () => {
    let now = 0
    const throttle = createAuthThrottle({ maxFailures: 4, blockMs: 60_000, now: () => now })
    assert.deepEqual([throttle.fail('1.2.3.4'), throttle.fail('1.2.3.4'), throttle.fail('1.2.3.4')], [0, 0, 500])
    assert.equal(throttle.isBlocked('1.2.3.4'), false)
    throttle.fail('1.2.3.4')
    assert.equal(throttle.isBlocked('1.2.3.4'), true)
    assert.equal(throttle.isBlocked('5.6.7.8'), false, 'other addresses are unaffected')
    now += 60_001
    assert.equal(throttle.isBlocked('1.2.3.4'), false)
  })

  it('forgets failures after a successful login', () => {
    const throttle = createAuthThrottle({ maxFailures: 3, blockMs: 60_000 })
    throttle.fail('ip')
    throttle.fail('ip')
    throttle.succeed('ip')
    throttle.fail('ip')
    throttle.fail('ip')
    assert.equal(throttle.isBlocked('ip'), false)
  })
})
