import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { createDestinationLimiter } from '../../src/infra/destination-limiter.js'
import { TEST_REDIS_URL } from '../helpers/env.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
/** A destination's state with no hold and no probe. */
const NOTHING_HELD = { domainHeldUntil: 0, sendersHeld: 0, senderHeldUntil: 0, probes: { domain: false, sender: false, mark: 0 } }

describe('destination limiter pauses (real Redis)', () => {
  let redis: Redis
  const prefix = `hk-test-limiter-${randomUUID()}`

  before(() => {
    redis = new Redis(TEST_REDIS_URL)
  })
  after(async () => {
    const keys = await redis.keys(`${prefix}:*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })

  it('a bulk lane leaves part of the connection slots to transactional mail', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    const take = (share?: number) => limiter.acquireSlot('profile:lanes', randomUUID(), 4, MINUTE, share)
    assert.equal(await take(0.75), true)
    assert.equal(await take(0.75), true)
    assert.equal(await take(0.75), true)
    assert.equal(await take(0.75), false, 'bulk stops at three of four')
    assert.equal(await take(), true, 'the fourth is there for transactional mail')
    assert.equal(await take(), false)
    // With two slots, bulk gets one and one stays free; with one, bulk may use it.
    const two = (share?: number) => limiter.acquireSlot('profile:two', randomUUID(), 2, MINUTE, share)
    assert.equal(await two(0.75), true)
    assert.equal(await two(0.75), false)
    assert.equal(await limiter.acquireSlot('profile:one', randomUUID(), 1, MINUTE, 0.75), true)
  })

  it('a throttle halves concurrency and pauses; its stragglers change nothing', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    const until = await limiter.throttled('profile:a', MINUTE, HOUR)
    assert.ok(Math.abs(until - (Date.now() + MINUTE)) < 5_000)
    assert.equal(await limiter.throttled('profile:a', MINUTE, HOUR), until, 'a second reply of the same burst')
    assert.deepEqual(await limiter.state('profile:a'), { ...NOTHING_HELD, pausedUntil: until, factor: 0.5 })
  })

  it('a reply that asks for a much longer pause extends the running one, without halving again', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    await limiter.throttled('profile:b', MINUTE, HOUR)
    const until = await limiter.throttled('profile:b', 2 * HOUR, 2 * HOUR)
    assert.ok(until > Date.now() + 2 * HOUR - 5_000, 'extended to the block’s pause')
    assert.deepEqual(await limiter.state('profile:b'), { ...NOTHING_HELD, pausedUntil: until, factor: 0.5 })
  })

  it('a long first pause is honoured, but the backoff it leaves stays within the profile’s maximum', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    const until = await limiter.throttled('profile:c', 4 * HOUR, 4 * HOUR, HOUR)
    assert.ok(until > Date.now() + 4 * HOUR - 5_000)
    const state = `${prefix}:dest:{profile:c}:state`
    assert.equal(Number(await redis.hget(state, 'pauseMs')), HOUR, 'the next ordinary throttle doubles from at most an hour')
    assert.ok((await redis.pttl(state)) >= 4 * HOUR, 'the state outlives the pause')
  })

  it('holds a sender or a recipient domain without pausing the destination; a longer hold in force stays', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    const sender = await limiter.hold('profile:h', 'sender', 'acct-a/a.example', HOUR)
    assert.ok(Math.abs(sender - (Date.now() + HOUR)) < 5_000)
    assert.equal(await limiter.hold('profile:h', 'sender', 'acct-a/a.example', MINUTE), sender, 'a shorter hold does not cut a longer one')
    const domain = await limiter.hold('profile:h', 'recipient_domain', 'tenant.example', MINUTE)
    assert.deepEqual(await limiter.state('profile:h', 'tenant.example', 'acct-a/a.example'), {
      pausedUntil: 0,
      factor: 1,
      domainHeldUntil: domain,
      sendersHeld: 1,
      senderHeldUntil: sender,
      probes: { domain: false, sender: false, mark: 0 },
    })
    const other = await limiter.state('profile:h', 'other.example', 'acct-b/a.example')
    assert.equal(other.domainHeldUntil, 0, 'another domain goes')
    assert.equal(other.senderHeldUntil, 0, "another account's mail from the same domain goes")
    assert.equal(await limiter.senderHeldUntil('profile:h', 'acct-a/a.example'), sender)
    await limiter.throttled('profile:h', MINUTE, HOUR, HOUR, 'google.ip_reputation')
    const view = await limiter.describe('profile:h', 'acct-a')
    assert.equal(view.lastRule?.id, 'google.ip_reputation')
    assert.deepEqual(view.senders, [{ who: 'acct-a/a.example', until: sender }])
    assert.equal(view.recipientDomainsHeld, 1)
    assert.deepEqual((await limiter.describe('profile:h', 'acct-b')).senders, [], "another account's holds are not shown")
  })

  it('an ended hold lets one delivery probe first while the rest wait; the settled probe ends it', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    await limiter.hold('profile:e', 'sender', 'acct/a.example', 1)
    await limiter.hold('profile:e', 'recipient_domain', 'tenant.example', 1)
    await new Promise((resolve) => setTimeout(resolve, 20))
    const probe = await limiter.state('profile:e', 'tenant.example', 'acct/a.example')
    assert.deepEqual([probe.senderHeldUntil, probe.domainHeldUntil, probe.probes.domain, probe.probes.sender], [0, 0, true, true])
    const rest = await limiter.state('profile:e', 'tenant.example', 'acct/a.example')
    assert.equal(rest.senderHeldUntil, probe.probes.mark, 'the others wait while the probe goes')
    assert.equal(rest.domainHeldUntil, probe.probes.mark)
    assert.deepEqual([rest.probes.domain, rest.probes.sender], [false, false])
    assert.equal(await limiter.settleProbe('profile:e', 'sender', 'acct/a.example', probe.probes.mark, 'end'), true)
    assert.equal(await limiter.settleProbe('profile:e', 'recipient_domain', 'tenant.example', probe.probes.mark, 'end'), true)
    const after = await limiter.state('profile:e', 'tenant.example', 'acct/a.example')
    assert.deepEqual([after.senderHeldUntil, after.domainHeldUntil, after.probes.domain, after.probes.sender], [0, 0, false, false])
    assert.equal(after.sendersHeld, 0)
  })

  it('a probe that never went is restored for the next; a renewed hold is not lifted by a stale probe', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    await limiter.hold('profile:f', 'sender', 'acct/a.example', 1)
    await new Promise((resolve) => setTimeout(resolve, 20))
    const first = await limiter.state('profile:f', '', 'acct/a.example')
    assert.equal(first.probes.sender, true)
    assert.equal(await limiter.settleProbe('profile:f', 'sender', 'acct/a.example', first.probes.mark, 'restore'), true)
    const next = await limiter.state('profile:f', '', 'acct/a.example')
    assert.equal(next.probes.sender, true, 'the next delivery to look probes it')
    // Refused again while that probe was out: the renewed hold stays.
    const renewed = await limiter.hold('profile:f', 'sender', 'acct/a.example', HOUR)
    assert.equal(await limiter.settleProbe('profile:f', 'sender', 'acct/a.example', next.probes.mark, 'end'), false)
    assert.equal((await limiter.state('profile:f', '', 'acct/a.example')).senderHeldUntil, renewed)
  })

  it('no probe is taken while the destination is paused or the other hold is in force', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    await limiter.hold('profile:g', 'sender', 'acct/a.example', 1)
    const domainHold = await limiter.hold('profile:g', 'recipient_domain', 'tenant.example', HOUR)
    await new Promise((resolve) => setTimeout(resolve, 20))
    const blocked = await limiter.state('profile:g', 'tenant.example', 'acct/a.example')
    assert.equal(blocked.domainHeldUntil, domainHold)
    assert.equal(blocked.probes.sender, false, 'the domain still holds this delivery: it probes nothing')
    await limiter.throttled('profile:g', MINUTE, HOUR)
    const paused = await limiter.state('profile:g', 'other.example', 'acct/a.example')
    assert.ok(paused.pausedUntil > Date.now())
    assert.equal(paused.probes.sender, false)
    assert.equal((await limiter.state('profile:g', 'other.example', 'acct/a.example')).probes.sender, false, 'still unprobed')
  })

  it('many replies of one burst at once halve concurrency once', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    await Promise.all(Array.from({ length: 10 }, () => limiter.throttled('profile:d', MINUTE, HOUR)))
    assert.equal((await limiter.state('profile:d')).factor, 0.5)
  })

  it('warm-up: a daily cap that grows one step per sending day, and stays put after a day with a throttle', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    const state = `${prefix}:dest:{profile:w}:warmup:192.0.2.1`
    const [seconds] = await redis.time()
    const today = Math.floor(Number(seconds) / 86_400)
    const take = async (n: number) => {
      let got = 0
      for (let i = 0; i < n; i++) if ((await limiter.warmupTake('profile:w', '192.0.2.1', [2, 4, 8])).taken) got++
      return got
    }
    /** As if the last sending day had been `daysAgo` days ago (days without mail do not count). */
    const lastSentDaysAgo = (daysAgo: number) => redis.hset(state, 'day', today - daysAgo)

    assert.equal(await take(5), 2, 'first sending day: 2')
    const spent = await limiter.warmupTake('profile:w', '192.0.2.1', [2, 4, 8])
    assert.equal(spent.nextDay, (today + 1) * 86_400_000, 'waits for the next UTC day, by Redis’s clock')
    await lastSentDaysAgo(5)
    assert.equal(await take(6), 4, 'the next sending day: 4')
    await limiter.warmupFreeze('profile:w', '192.0.2.1')
    await lastSentDaysAgo(1)
    assert.equal(await take(6), 4, 'after a day with a throttle: still 4')
    await lastSentDaysAgo(1)
    assert.equal(await take(10), 8)
    await lastSentDaysAgo(1)
    assert.equal(await take(10), 8, 'the last step holds')
    await redis.hset(state, 'day', today + 1)
    assert.equal(await take(1), 0, 'a day that is already later (another clock) does not start a new one')
    await limiter.warmupGiveBack('profile:w', '192.0.2.2')
    assert.equal((await limiter.warmupTake('profile:w', '192.0.2.2', [2, 4, 8])).taken, true, 'each sending IP warms up on its own')
    assert.ok((await redis.pttl(state)) > 0, 'the state expires')
  })

  it('warm-up: a unit taken by a delivery that did not go is given back', async () => {
    const limiter = createDestinationLimiter(redis, prefix)
    assert.equal((await limiter.warmupTake('profile:g', 'ip', [1])).taken, true)
    assert.equal((await limiter.warmupTake('profile:g', 'ip', [1])).taken, false)
    await limiter.warmupGiveBack('profile:g', 'ip')
    assert.equal((await limiter.warmupTake('profile:g', 'ip', [1])).taken, true)
  })
})
