import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isPrivateAddress } from '../../src/lib/ip.js'

describe('isPrivateAddress', () => {
  it('blocks loopback, private, link-local, CGNAT, multicast and unspecified addresses', () => {
    for (const ip of [
      '127.0.0.1',
      '127.0.0.2',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:10.0.0.1',
      'not-an-ip',
    ]) {
      assert.equal(isPrivateAddress(ip), true, ip)
    }
  })
  it('allows public addresses', () => {
    for (const ip of [
      '8.8.8.8',
      '172.32.0.1',
      '192.0.2.1',
      '203.0.113.5',
      '2001:4860:4860::8888',
      '::ffff:8.8.8.8',
      '::ffff:808:808',
      '64:ff9b::808:808',
      '2002:808:808::1',
    ]) {
      assert.equal(isPrivateAddress(ip), false, ip)
    }
  })
})
