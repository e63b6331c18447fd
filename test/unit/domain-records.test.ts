import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DnsError } from '../../src/infra/dns.js'
import { expectedRecords, spfValue } from '../../src/modules/domains/domain.records.js'
import type { DnsRecord } from '../../src/modules/domains/domain.types.js'
import { checkRecords, judge } from '../../src/modules/domains/domain.verify.js'

const keys = {
  name: 'example.com',
  returnPathDomain: 'bounces.example.com',
  selector: 'hk1',
  rsaPublicKey: 'RSAKEY',
  ed25519PublicKey: null,
}
const settings = { spfInclude: '_spf.hikyaku.example', spfIps: ['192.0.2.10', '2001:db8::10'], bounceMxHost: 'mx.hikyaku.example' }

describe('records to publish', () => {
  it('SPF with the configured include and addresses, DKIM, DMARC, and the return path MX and SPF', () => {
    const spf = 'v=spf1 include:_spf.hikyaku.example ip4:192.0.2.10 ip6:2001:db8::10 ~all'
    assert.deepEqual(expectedRecords(keys, settings), [
      { type: 'TXT', name: 'example.com', value: spf, purpose: 'spf', status: 'pending' },
      { type: 'TXT', name: 'hk1._domainkey.example.com', value: 'v=DKIM1; k=rsa; p=RSAKEY', purpose: 'dkim', status: 'pending' },
      { type: 'TXT', name: '_dmarc.example.com', value: 'v=DMARC1; p=none;', purpose: 'dmarc', status: 'pending' },
      { type: 'MX', name: 'bounces.example.com', value: '10 mx.hikyaku.example', purpose: 'return-path', status: 'pending' },
      { type: 'TXT', name: 'bounces.example.com', value: spf, purpose: 'return-path', status: 'pending' },
    ])
  })

  it('an Ed25519 key gets its own selector', () => {
    const records = expectedRecords({ ...keys, ed25519PublicKey: 'EDKEY' }, settings)
    assert.deepEqual(
      records.filter((r) => r.purpose === 'dkim-ed25519'),
      [
        {
          type: 'TXT',
          name: 'hk1-ed25519._domainkey.example.com',
          value: 'v=DKIM1; k=ed25519; p=EDKEY',
          purpose: 'dkim-ed25519',
          status: 'pending',
        },
      ],
    )
  })

  it('SPF falls back to a and mx when neither SPF_INCLUDE nor SPF_IPS is set; CIDR ranges keep their family', () => {
    assert.equal(spfValue({ spfInclude: undefined, spfIps: [] }), 'v=spf1 a mx ~all')
    assert.equal(
      spfValue({ spfInclude: undefined, spfIps: ['198.51.100.0/24', '2001:db8::/32'] }),
      'v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 ~all',
    )
    assert.equal(spfValue({ spfInclude: 'spf.example.net', spfIps: [] }), 'v=spf1 include:spf.example.net ~all')
  })
})

describe('verdicts', () => {
  const spf: Pick<DnsRecord, 'type' | 'value' | 'purpose'> = {
    type: 'TXT',
    value: 'v=spf1 include:_spf.hikyaku.example ip4:192.0.2.10 ~all',
    purpose: 'spf',
  }

  it('SPF: found when the one SPF record has every suggested mechanism, whatever else it lists', () => {
    assert.deepEqual(judge(spf, ['google-site-verification=x', 'v=spf1 mx +include:_spf.hikyaku.example IP4:192.0.2.10 -all']), {
      status: 'found',
    })
    assert.deepEqual(judge(spf, ['google-site-verification=x']), { status: 'missing' })
    assert.deepEqual(judge(spf, ['v=spf1 include:_spf.hikyaku.example ~all']), {
      status: 'mismatched',
      seen: ['v=spf1 include:_spf.hikyaku.example ~all'],
    })
  })

  it('SPF: two SPF records are mismatched (receivers treat them as a permanent error)', () => {
    const two = [spf.value, 'v=spf1 mx ~all']
    assert.deepEqual(judge(spf, two), { status: 'mismatched', seen: two })
  })

  it('DKIM: found when p= is our key, mismatched with what was seen otherwise', () => {
    const dkim = { type: 'TXT' as const, value: 'v=DKIM1; k=rsa; p=OURKEY', purpose: 'dkim' as const }
    assert.deepEqual(judge(dkim, ['v=DKIM1; k=rsa; p=OUR KEY']), { status: 'found' })
    assert.deepEqual(judge(dkim, ['v=DKIM1; k=rsa; p=OTHER']), { status: 'mismatched', seen: ['v=DKIM1; k=rsa; p=OTHER'] })
    assert.deepEqual(judge(dkim, []), { status: 'missing' })
  })

  it('DMARC: any DMARC policy counts', () => {
    const dmarc = { type: 'TXT' as const, value: 'v=DMARC1; p=none;', purpose: 'dmarc' as const }
    assert.deepEqual(judge(dmarc, ['v=DMARC1; p=reject; rua=mailto:d@example.com']), { status: 'found' })
    assert.deepEqual(judge(dmarc, ['something else']), { status: 'missing' })
  })

  it('return-path MX: found when it points at our host (any preference, any case)', () => {
    const mx = { type: 'MX' as const, value: '10 mx.hikyaku.example', purpose: 'return-path' as const }
    assert.deepEqual(judge(mx, ['20 other.example', '5 MX.Hikyaku.Example']), { status: 'found' })
    assert.deepEqual(judge(mx, ['10 other.example']), { status: 'mismatched', seen: ['10 other.example'] })
    assert.deepEqual(judge(mx, []), { status: 'missing' })
  })
})

describe('checkRecords', () => {
  it('NXDOMAIN counts as missing; SERVFAIL and timeouts leave the record pending with the reason', async () => {
    const records = expectedRecords(keys, settings)
    const dns = {
      async txt(name: string): Promise<string[]> {
        if (name === 'example.com') throw new DnsError('servfail', name, 'ESERVFAIL')
        if (name === '_dmarc.example.com') throw new DnsError('timeout', name, 'ETIMEOUT')
        if (name === 'hk1._domainkey.example.com') return ['v=DKIM1; k=rsa; p=RSAKEY']
        throw new DnsError('nxdomain', name, 'ENOTFOUND')
      },
      async mx(name: string) {
        throw new DnsError('nodata', name, 'ENODATA')
      },
    }
    const checked = await checkRecords(records, dns)
    assert.deepEqual(
      checked.map((r) => [r.purpose, r.type, r.status, r.error ?? null]),
      [
        ['spf', 'TXT', 'pending', 'DNS servfail looking up TXT example.com; try again later'],
        ['dkim', 'TXT', 'found', null],
        ['dmarc', 'TXT', 'pending', 'DNS timeout looking up TXT _dmarc.example.com; try again later'],
        ['return-path', 'MX', 'missing', null],
        ['return-path', 'TXT', 'missing', null],
      ],
    )
  })
})
