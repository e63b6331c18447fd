import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isPrivateAddress } from '../../src/lib/ip.js'

/** One address inside each range an MX must not lead to, named as ipaddr.js names the range. */
const REFUSED: Array<[range: string, ip: string]> = [
  ['IPv4 unspecified 0.0.0.0/8', '0.0.0.0'],
  ['IPv4 unspecified 0.0.0.0/8', '0.1.2.3'],
  ['IPv4 private 10/8', '10.1.2.3'],
  ['IPv4 private 172.16/12', '172.16.0.1'],
  ['IPv4 private 172.16/12', '172.31.255.255'],
  ['IPv4 private 192.168/16', '192.168.1.1'],
  ['IPv4 carrierGradeNat 100.64/10', '100.64.0.1'],
  ['IPv4 loopback 127/8', '127.0.0.1'],
  ['IPv4 loopback 127/8', '127.0.0.2'],
  ['IPv4 linkLocal 169.254/16', '169.254.169.254'],
  ['IPv4 reserved 192.0.0/24', '192.0.0.9'],
  ['IPv4 reserved (TEST-NET-1) 192.0.2/24', '192.0.2.1'],
  ['IPv4 reserved (6to4 relay) 192.88.99/24', '192.88.99.1'],
  ['IPv4 reserved (benchmarking) 198.18/15', '198.18.0.1'],
  ['IPv4 reserved (TEST-NET-2) 198.51.100/24', '198.51.100.7'],
  ['IPv4 reserved (TEST-NET-3) 203.0.113/24', '203.0.113.5'],
  ['IPv4 reserved 240/4', '240.0.0.1'],
  ['IPv4 as112 192.175.48/24', '192.175.48.1'],
  ['IPv4 amt 192.52.193/24', '192.52.193.1'],
  ['IPv4 multicast 224/4', '224.0.0.1'],
  ['IPv4 broadcast', '255.255.255.255'],
  ['IPv6 unspecified ::', '::'],
  ['IPv6 loopback ::1', '::1'],
  ['IPv6 uniqueLocal fc00::/7', 'fd00::1'],
  ['IPv6 uniqueLocal fc00::/7', 'fc00::1'],
  ['IPv6 linkLocal fe80::/10', 'fe80::1'],
  ['IPv6 linkLocal with a zone id', 'fe80::1%eth0'],
  ['IPv6 deprecatedSiteLocal fec0::/10', 'fec0::1'],
  ['IPv6 multicast ff00::/8', 'ff02::1'],
  ['IPv6 discard 100::/64', '100::1'],
  ['ipv4Mapped of a private IPv4', '::ffff:10.0.0.1'],
  ['ipv4Mapped of loopback, hex spelling', '::ffff:7f00:1'],
  ['ipv4Mapped of link-local', '::ffff:169.254.169.254'],
  ['rfc6145 IPv4-translated ::ffff:0:0/96', '::ffff:0:8.8.8.8'],
  ['rfc6145 IPv4-translated ::ffff:0:0/96', '::ffff:0:a00:1'],
  ['rfc6052 NAT64 64:ff9b::/96 (public IPv4 inside)', '64:ff9b::808:808'],
  ['rfc6052 NAT64 64:ff9b::/96 (private IPv4 inside)', '64:ff9b::10.0.0.1'],
  ['rfc6052 local-use NAT64 64:ff9b:1::/48', '64:ff9b:1::808:808'],
  ['rfc6052 local-use NAT64 64:ff9b:1::/48', '64:ff9b:1:ffff::1'],
  ['6to4 2002::/16 (public IPv4 inside)', '2002:808:808::1'],
  ['6to4 2002::/16 (private IPv4 inside)', '2002:a00:1::1'],
  ['teredo 2001::/32', '2001::1'],
  ['teredo 2001::/32', '2001:0:4136:e378:8000:63bf:3fff:fdd2'],
  ['benchmarking 2001:2::/48', '2001:2::1'],
  ['amt 2001:3::/32', '2001:3::1'],
  ['as112v6 2001:4:112::/48', '2001:4:112::1'],
  ['as112v6 2620:4f:8000::/48', '2620:4f:8000::1'],
  ['orchid2 2001:20::/28', '2001:20::1'],
  ['reserved (documentation) 2001:db8::/32', '2001:db8::1'],
  ['reserved (documentation) 3fff::/20', '3fff::1'],
  ['segmentRouting 5f00::/16', '5f00::1'],
  ['IPv4-compatible ::a.b.c.d (deprecated)', '::8.8.8.8'],
  ['IPv4-compatible ::a.b.c.d (deprecated)', '::10.0.0.1'],
  ['IPv4-compatible, hex spelling', '::808:808'],
  ['IPv4-compatible, other spelling', '0::10.0.0.1'],
  ['outside 2000::/3', '4000::1'],
  ['not an IP', 'not-an-ip'],
  ['not an IP', ''],
  ['not an IP', 'mx.example.com'],
  ['IPv4 short form', '127.1'],
  ['IPv4 hex form', '0x7f.0.0.1'],
  ['IPv4 with leading zeros', '010.0.0.1'],
  ['CIDR, not an address', '8.8.8.0/24'],
]

const ALLOWED = [
  '8.8.8.8',
  '1.1.1.1',
  '172.32.0.1',
  '100.128.0.1',
  '93.184.215.14',
  '2001:4860:4860::8888',
  '2606:4700:4700::1111',
  '2a00:1450:4001:81c::200e',
  '::ffff:8.8.8.8',
  '::ffff:808:808',
  '::FFFF:1.1.1.1',
]

describe('isPrivateAddress', () => {
  for (const [range, ip] of REFUSED) {
    it(`refuses ${JSON.stringify(ip)}: ${range}`, () => assert.equal(isPrivateAddress(ip), true))
  }
  it('allows public unicast addresses, IPv4-mapped ones included', () => {
    for (const ip of ALLOWED) assert.equal(isPrivateAddress(ip), false, ip)
  })
})
