import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkShapingFile, createShaping } from '../../src/modules/delivery/shaping.js'

describe('shaping', () => {
  it('routes by mode, with per-domain overrides both ways', () => {
    const mx = createShaping('mx', { domains: { 'legacy.example': { route: 'relay' } } })
    assert.equal(mx.routeFor('a@Example.ORG'), 'example.org')
    assert.equal(mx.routeFor('a@legacy.example'), 'relay')
    const relay = createShaping('relay', { domains: { 'direct.example': { route: 'mx' } } })
    assert.equal(relay.routeFor('a@example.org'), 'relay')
    assert.equal(relay.routeFor('a@direct.example'), 'direct.example')
  })

  it("groups a provider's domains, also by MX host, into one destination with the profile's limits", () => {
    const shaping = createShaping('mx')
    assert.equal(shaping.policyFor('gmail.com').destination, 'profile:google')
    assert.equal(shaping.policyFor('googlemail.com').maxConnections, 20)
    assert.equal(shaping.policyFor('company.example', ['aspmx.l.google.com']).destination, 'profile:google')
    assert.deepEqual(
      ['docomo.ne.jp', 'ezweb.ne.jp', 'au.com', 'softbank.ne.jp', 'i.softbank.jp'].map((d) => shaping.policyFor(d).maxConnections),
      [5, 5, 5, 5, 5],
    )
    assert.equal(shaping.policyFor('small.example').destination, 'small.example')
    assert.equal(shaping.policyFor('small.example').maxConnections, 10)
  })

  it('applies file overrides: defaults, profiles (TLS too), and domains, which get their own counters', () => {
    const shaping = createShaping('mx', {
      defaults: { maxConnections: 3 },
      profiles: { docomo: { ratePerSecond: 2, tls: 'require' } },
      domains: { 'gmail.com': { maxConnections: 1 } },
    })
    assert.equal(shaping.policyFor('other.example').maxConnections, 3)
    assert.deepEqual([shaping.policyFor('docomo.ne.jp').ratePerSecond, shaping.policyFor('docomo.ne.jp').tls], [2, 'require'])
    assert.deepEqual([shaping.policyFor('gmail.com').destination, shaping.policyFor('gmail.com').maxConnections], ['gmail.com', 1])
  })

  it('reports every problem in a file', () => {
    const problems = checkShapingFile({
      defaults: { maxConnections: -1 },
      profiles: { x: { route: 'relay' } },
      domains: { 'a.example': { tls: 'sometimes' } },
      extra: 1,
    })
    assert.equal(problems.length, 4, problems.join('; '))
  })
})
