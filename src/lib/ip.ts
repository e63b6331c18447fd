import { isIPv4, isIPv6 } from 'node:net'

/**
 * Addresses an MX record must not send us to unless explicitly allowed: loopback, private,
 * link-local, unspecified, shared (CGNAT), multicast and reserved ranges. Otherwise anyone who
 * controls a DNS zone could make Hikyaku connect to its own internal network.
 */
const V4_BLOCKED: Array<[number, number]> = [
  [0x00000000, 8], // 0.0.0.0/8
  [0x0a000000, 8], // 10/8
  [0x64400000, 10], // 100.64/10
  [0x7f000000, 8], // 127/8
  [0xa9fe0000, 16], // 169.254/16
  [0xac100000, 12], // 172.16/12
  [0xc0000000, 24], // 192.0.0/24
  [0xc0a80000, 16], // 192.168/16
  [0xc6120000, 15], // 198.18/15
  [0xe0000000, 4], // 224/4 multicast
  [0xf0000000, 4], // 240/4 reserved
]

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => ((n << 8) | Number(part)) >>> 0, 0)
}

function v4Blocked(ip: string): boolean {
  const n = v4ToInt(ip)
  return V4_BLOCKED.some(([net, bits]) => n >>> (32 - bits) === net >>> (32 - bits))
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted IPv4 part included). */
function v6Groups(ip: string): number[] {
  let text = ip.toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const n = v4ToInt(dotted[1] as string)
    text = `${text.slice(0, -(dotted[1] as string).length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const h = head ? head.split(':') : []
  const t = tail !== undefined && tail !== '' ? tail.split(':') : []
  const zeros = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0')
  return [...h, ...zeros, ...t].map((g) => Number.parseInt(g, 16) || 0)
}

const embeddedV4 = (hi: number, lo: number): string => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.')

function v6Blocked(ip: string): boolean {
  const g = v6Groups(ip)
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g
  const zeroUntil = (n: number) => g.slice(0, n).every((x) => x === 0)
  // IPv4 carried inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96).
  if ((zeroUntil(5) && g5 === 0xffff) || (zeroUntil(6) && (g6 !== 0 || g7 > 1))) return v4Blocked(embeddedV4(g6, g7))
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return v4Blocked(embeddedV4(g6, g7))
  // 6to4 (2002::/16) carries the IPv4 address in the next 32 bits.
  if (g0 === 0x2002) return v4Blocked(embeddedV4(g1, g2))
  if (zeroUntil(7) && g7 <= 1) return true // :: and ::1
  return (
    (g0 & 0xfe00) === 0xfc00 || // fc00::/7 unique local
    (g0 & 0xffc0) === 0xfe80 || // fe80::/10 link-local
    (g0 & 0xffc0) === 0xfec0 || // fec0::/10 site-local
    (g0 & 0xff00) === 0xff00 || // ff00::/8 multicast
    (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) // 100::/64 discard
  )
}

export function isPrivateAddress(ip: string): boolean {
  if (isIPv4(ip)) return v4Blocked(ip)
  if (isIPv6(ip)) return v6Blocked(ip)
  return true
}
