import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Dns, DnsError } from '../../src/infra/dns.js'
import { createMxPlanner } from '../../src/modules/delivery/mx.plan.js'

/** A DNS double: MX and address answers from plain objects; names missing from both are NXDOMAIN. */
function fakeDns(
  mx: Record<string, Array<[number, string]> | 'servfail' | 'nodata'>,
  addresses: Record<string, string[]>,
): Dns & { lookups: number } {
  const dns = {
    lookups: 0,
    async mx(domain: string) {
      dns.lookups++
      const answer = mx[domain]
      if (answer === 'servfail') throw new DnsError('servfail', domain, 'ESERVFAIL')
      if (answer === 'nodata') throw new DnsError('nodata', domain, 'ENODATA')
      if (!answer) throw new DnsError('nxdomain', domain, 'ENOTFOUND')
      return answer.map(([priority, exchange]) => ({ priority, exchange }))
    },
    async addresses(host: string) {
      return addresses[host] ?? []
    },
    async txt() {
      return []
    },
    async reverse() {
      return []
    },
  }
  return dns
}

describe('MX planning', () => {
  it('orders hosts by preference and skips hosts without addresses', async () => {
    const planner = createMxPlanner({
      dns: fakeDns(
        {
          'a.example': [
            [20, 'mx2.a.example'],
            [10, 'mx1.a.example'],
            [30, 'ghost.a.example'],
          ],
        },
        { 'mx1.a.example': ['8.8.8.1'], 'mx2.a.example': ['8.8.8.2'] },
      ),
      allowPrivate: false,
    })
    const plan = await planner.plan('a.example')
    assert.deepEqual(plan.kind === 'hosts' && plan.hosts.map((h) => h.name), ['mx1.a.example', 'mx2.a.example'])
  })

  it('shuffles hosts of equal preference', async () => {
    const seen = new Set<string>()
    for (const r of [0, 0.99]) {
      const planner = createMxPlanner({
        dns: fakeDns(
          {
            'b.example': [
              [10, 'x.b.example'],
              [10, 'y.b.example'],
            ],
          },
          { 'x.b.example': ['8.8.8.3'], 'y.b.example': ['8.8.8.4'] },
        ),
        allowPrivate: false,
        random: () => r,
      })
      const plan = await planner.plan('b.example')
      if (plan.kind === 'hosts') seen.add(plan.hosts[0]?.name as string)
    }
    assert.equal(seen.size, 2)
  })

  it('tells null MX, NXDOMAIN, implicit MX, temporary failures and private-only hosts apart', async () => {
    const planner = createMxPlanner({
      dns: fakeDns(
        {
          'null.example': [[0, '']],
          'implicit.example': 'nodata',
          'down.example': 'servfail',
          'inside.example': [[10, 'mx.inside.example']],
        },
        { 'implicit.example': ['8.8.8.9'], 'mx.inside.example': ['10.0.0.5'] },
      ),
      allowPrivate: false,
    })
    assert.equal((await planner.plan('null.example')).kind, 'null_mx')
    assert.equal((await planner.plan('missing.example')).kind, 'nxdomain')
    assert.equal((await planner.plan('down.example')).kind, 'temp_error')
    assert.deepEqual(await planner.plan('inside.example'), { kind: 'private', addresses: ['10.0.0.5'] })
    const implicit = await planner.plan('implicit.example')
    assert.deepEqual(implicit.kind === 'hosts' && implicit.hosts, [{ name: 'implicit.example', priority: 0, addresses: ['8.8.8.9'] }])
  })

  it('caches answers (not temporary failures) and shares lookups in flight', async () => {
    const dns = fakeDns({ 'c.example': [[10, 'mx.c.example']], 'flaky.example': 'servfail' }, { 'mx.c.example': ['8.8.8.5'] })
    const planner = createMxPlanner({ dns, allowPrivate: false })
    await Promise.all([planner.plan('c.example'), planner.plan('c.example'), planner.plan('c.example')])
    await planner.plan('c.example')
    assert.equal(dns.lookups, 1)
    await planner.plan('flaky.example')
    await planner.plan('flaky.example')
    assert.equal(dns.lookups, 3)
  })
})
