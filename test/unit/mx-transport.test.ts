import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createLogger } from '../../src/infra/logger.js'
import type { DestinationLimiter, DestinationState } from '../../src/modules/delivery/limiter.port.js'
import { MxTransport } from '../../src/modules/delivery/mx.transport.js'
import { createShaping } from '../../src/modules/delivery/shaping.js'

/**
 * Slots a reservation takes are always given back (review finding 4): a Redis call that fails
 * after a slot was taken must not leak it, or a few blips block a destination for good.
 */
function limiterWith(failing: Partial<Record<keyof DestinationLimiter, Error>>, state: Partial<DestinationState> = {}) {
  const held = new Set<string>()
  const calls: string[] = []
  const ended: string[] = []
  const call = <T>(name: keyof DestinationLimiter, value: () => T): Promise<T> => {
    calls.push(name)
    const err = failing[name]
    return err ? Promise.reject(err) : Promise.resolve(value())
  }
  const limiter: DestinationLimiter = {
    state: () =>
      call('state', () => ({
        pausedUntil: 0,
        factor: 1,
        domainHeldUntil: 0,
        sendersHeld: 0,
        senderHeldUntil: 0,
        probes: { domain: false, sender: false, mark: 0 },
        ...state,
      })),
    settleProbe: (_d: string, scope: string, who: string, mark: number, how: string) =>
      call('settleProbe', () => {
        ended.push(`${how} ${scope}:${who}@${mark}`)
        return true
      }),
    hold: () => call('hold', () => 0),
    senderHeldUntil: () => call('senderHeldUntil', () => 0),
    describe: () =>
      call('describe', () => ({ pausedUntil: 0, factor: 1, senders: [], recipientDomainsHeld: 0, connections: 0, waiting: 0 })),
    acquireSlot: (_d, slot) =>
      call('acquireSlot', () => {
        held.add(slot)
        return true
      }),
    renewSlot: (_d, slot) => call('renewSlot', () => held.has(slot)),
    releaseSlot: (_d, slot) => call('releaseSlot', () => void held.delete(slot)),
    putAside: () => call('putAside', () => undefined),
    reserveRate: () => call('reserveRate', () => 0),
    throttled: () => call('throttled', () => 0),
    succeeded: () => call('succeeded', () => undefined),
    connectFailed: () => call('connectFailed', () => 1),
    warmupTake: () => call('warmupTake', () => ({ taken: true, nextDay: 0 })),
    warmupGiveBack: () => call('warmupGiveBack', () => undefined),
    warmupFreeze: () => call('warmupFreeze', () => undefined),
    connected: () => call('connected', () => undefined),
  }
  return { limiter, held, calls, ended }
}

const transport = (limiter: DestinationLimiter) =>
  new MxTransport({
    planner: { plan: async () => ({ kind: 'hosts', hosts: [{ name: 'mx.example.net', priority: 10, addresses: ['8.8.8.8'] }] }) },
    shaping: createShaping('mx'),
    limiter,
    port: 25,
    heloName: 'hikyaku.test',
    timeoutMs: 1_000,
    logger: createLogger('silent'),
  })

describe('MxTransport.reserve', () => {
  it('gives the slot back when taking a rate token fails', async () => {
    const { limiter, held, calls } = limiterWith({ reserveRate: new Error('Command timed out') })
    await assert.rejects(transport(limiter).reserve('example.net'), /Command timed out/)
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(calls, ['state', 'acquireSlot', 'reserveRate', 'releaseSlot'])
    assert.equal(held.size, 0, 'no slot is left held')
  })

  it('starts renewing a slot only once it is held, so a failed acquire leaves no timer behind', async () => {
    const { limiter, calls } = limiterWith({ acquireSlot: new Error('Connection is closed') })
    await assert.rejects(transport(limiter).reserve('example.net'), /Connection is closed/)
    assert.deepEqual(calls, ['state', 'acquireSlot'])
  })

  it('a successful reservation holds one slot until released', async () => {
    const { limiter, held } = limiterWith({})
    const mx = transport(limiter)
    const reservation = await mx.reserve('example.net')
    assert.equal(reservation.kind, 'go')
    assert.equal(held.size, 1)
    if (reservation.kind === 'go') mx.release(reservation.ticket)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(held.size, 0)
  })
})

describe('MxTransport holds', () => {
  it('a held sender waits before any slot or rate token is taken', async () => {
    const until = Date.now() + 60_000
    const { limiter, calls } = limiterWith({}, { senderHeldUntil: until })
    const reservation = await transport(limiter).reserve('example.net', 'acct/a.example')
    assert.deepEqual(reservation, { kind: 'wait', until, reason: 'sender_config', destination: 'example.net' })
    assert.deepEqual(calls, ['state'])
  })

  it('a probe is settled after its attempt, but for the hold its reply renewed; one that never went is restored', async () => {
    const { limiter, ended } = limiterWith({}, { probes: { domain: true, sender: true, mark: 42 } })
    const mx = transport(limiter)
    const sent = await mx.reserve('example.net', 'acct/a.example')
    assert.equal(sent.kind, 'go')
    if (sent.kind !== 'go') return
    sent.ticket.sent = true
    await mx.settleProbes(sent.ticket, 'sender')
    mx.release(sent.ticket)
    assert.deepEqual(ended, ['end recipient_domain:example.net@42'], 'the renewed sender hold is left alone, and nothing is restored')

    ended.length = 0
    const unsent = await mx.reserve('example.net', 'acct/a.example')
    if (unsent.kind !== 'go') return assert.fail('expected a go')
    mx.release(unsent.ticket)
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(ended, ['restore recipient_domain:example.net@42', 'restore sender:acct/a.example@42'])
  })
})
