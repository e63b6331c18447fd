import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkSendingHost } from '../../src/modules/domains/sending-host.js'

const fakeDns = (forward: Record<string, string[]>, reverse: Record<string, string[] | Error>) => ({
  async addresses(host: string) {
    return forward[host] ?? []
  },
  async reverse(address: string) {
    const names = reverse[address]
    if (names instanceof Error) throw names
    return names ?? []
  },
})

describe('checkSendingHost (forward-confirmed reverse DNS)', () => {
  it('ok when the address’s PTR is HELO_NAME and HELO_NAME resolves to it', async () => {
    const check = await checkSendingHost(
      fakeDns({ 'mail.example.com': ['192.0.2.1'] }, { '192.0.2.1': ['mail.example.com.'] }),
      'mail.example.com',
      undefined,
    )
    assert.deepEqual([check.status, check.addresses.map((a) => a.status), check.advice], ['ok', ['ok'], []])
  })

  it('says what is wrong, address by address', async () => {
    const dns = fakeDns(
      { 'mail.example.com': ['192.0.2.1'], 'host.isp.example': ['192.0.2.2'], 'stale.example': ['192.0.2.99'] },
      { '192.0.2.1': [], '192.0.2.2': ['host.isp.example'], '192.0.2.3': ['stale.example'], '192.0.2.4': new Error('timeout') },
    )
    const status = async (source: string) => (await checkSendingHost(dns, 'mail.example.com', source)).addresses[0]?.status
    assert.equal(await status('192.0.2.1'), 'missing')
    assert.equal(await status('192.0.2.2'), 'not_helo')
    assert.equal(await status('192.0.2.3'), 'unconfirmed')
    assert.equal(await status('192.0.2.4'), 'unknown')
    const none = await checkSendingHost(dns, 'nowhere.example.com', undefined)
    assert.equal(none.status, 'warning')
    assert.match(none.advice[0] ?? '', /Publish an A/)
  })
})
