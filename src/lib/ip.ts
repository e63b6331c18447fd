import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3')
const IPV4_COMPATIBLE_RE = /^::\d+\.\d+\.\d+\.\d+(?:%.*)?$/

/**
 * Addresses an MX record must not send us to unless explicitly allowed. Otherwise anyone who
 * controls a DNS zone could make Hikyaku connect to its own internal network, directly or through
 * a range that carries IPv4 inside IPv6 (NAT64, 6to4, Teredo, IPv4-translated).
 *
 * Only what ipaddr.js classifies as plain `unicast` passes; every special range it knows (private,
 * loopback, link-local, CGNAT, multicast, reserved and documentation, discard, NAT64 including the
 * local-use 64:ff9b:1::/48 of RFC 8215, …) is refused. The table is theirs, maintained upstream,
 * rather than one we would have to keep complete by hand.
 */
export function isPrivateAddress(ip: string): boolean {
  // node:net accepts only the standard forms; ipaddr.js alone would also read "127.1" or
  // "0x7f.0.0.1", which no resolver returns and which we have no reason to interpret.
  if (isIP(ip) === 0) return true
  // ipaddr.js reads "::a.b.c.d" (the deprecated IPv4-compatible form, RFC 4291 §2.5.5.1) as if it
  // were the mapped ::ffff:a.b.c.d. It is not; it lies outside 2000::/3 like its hex spelling.
  if (IPV4_COMPATIBLE_RE.test(ip)) return true
  let parsed: ipaddr.IPv4 | ipaddr.IPv6
  try {
    parsed = ipaddr.parse(ip)
  } catch {
    return true // a zone id node:net accepts and ipaddr.js does not: nothing a resolver returns
  }
  // An IPv4-mapped address (::ffff:a.b.c.d) is how a dual-stack socket reaches that IPv4
  // address: it is exactly as safe as the IPv4 address it carries.
  if (parsed instanceof ipaddr.IPv6 && parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().range() !== 'unicast'
  if (parsed.range() !== 'unicast') return true
  // ipaddr.js names no range for most of the IPv6 space outside 2000::/3, the only part IANA
  // hands out for global unicast; without this, IPv4-compatible ::808:808 or 0::10.0.0.1 would
  // pass as unicast.
  return parsed instanceof ipaddr.IPv6 && !parsed.match(GLOBAL_UNICAST)
}
