import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startDnsServer } from '../helpers/dns-server.js'
import { type Harness, startHarness } from '../helpers/harness.js'

/** GET /v1/sending-host against a loopback DNS server that publishes HELO_NAME and its PTR record. */
describe('sending host self-check', () => {
  let dns: Awaited<ReturnType<typeof startDnsServer>>
  let h: Harness

  before(async () => {
    dns = await startDnsServer({
      'mail.hikyaku.test': { A: ['127.0.0.60'] },
      '60.0.0.127.in-addr.arpa': { PTR: ['mail.hikyaku.test'] },
    })
    h = await startHarness({ env: { HELO_NAME: 'mail.hikyaku.test', DNS_SERVERS: dns.server, DNS_TIMEOUT: '1s' } })
  })
  after(async () => {
    await h.close()
    await dns.close()
  })

  it('finds the HELO name forward-confirmed through its PTR record', async () => {
    const res = await h.request('GET', '/v1/sending-host')
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, {
      helo_name: 'mail.hikyaku.test',
      helo_addresses: ['127.0.0.60'],
      addresses: [{ address: '127.0.0.60', ptr: ['mail.hikyaku.test'], status: 'ok' }],
      status: 'ok',
      advice: [],
    })
    assert.ok(dns.queries.some((q) => q.type === 'PTR' && q.name === '60.0.0.127.in-addr.arpa'))
  })
})
