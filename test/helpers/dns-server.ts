import { createSocket, type RemoteInfo } from 'node:dgram'
import { isIPv4 } from 'node:net'

/**
 * A tiny authoritative DNS server on loopback UDP for tests: A, AAAA, MX, TXT, CNAME and PTR records
 * from a plain object, NXDOMAIN for unknown names, and SERVFAIL (or silence) on demand. Enough
 * for Node's resolver (c-ares) pointed at it with `setServers(['127.0.0.1:<port>'])`.
 */
export interface ZoneEntry {
  A?: string[]
  AAAA?: string[]
  MX?: Array<{ priority: number; exchange: string }>
  TXT?: string[]
  CNAME?: string
  /** For reverse names (`4.3.2.1.in-addr.arpa`). */
  PTR?: string[]
  /** Answer every query for this name with SERVFAIL. */
  servfail?: boolean
  /** Never answer (the resolver times out). */
  silent?: boolean
}

export type Zone = Record<string, ZoneEntry>

/** The zone that publishes DNS records as the domains API lists them (TXT and MX). */
export function zoneFor(records: Array<{ type: string; name: string; value: string }>): Zone {
  const zone: Zone = {}
  for (const r of records) {
    zone[r.name] ??= {}
    const entry = zone[r.name] as ZoneEntry
    if (r.type === 'TXT') entry.TXT = [...(entry.TXT ?? []), r.value]
    if (r.type === 'MX') {
      const [priority, exchange] = r.value.split(' ')
      entry.MX = [...(entry.MX ?? []), { priority: Number(priority), exchange: exchange as string }]
    }
  }
  return zone
}

const TYPES: Record<number, keyof ZoneEntry> = { 1: 'A', 28: 'AAAA', 15: 'MX', 16: 'TXT', 5: 'CNAME', 12: 'PTR' }

export async function startDnsServer(initial: Zone = {}) {
  let zone: Zone = normalise(initial)
  const queries: Array<{ name: string; type: string }> = []
  const socket = createSocket('udp4')
  socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const reply = answer(msg, zone, queries)
    if (reply) socket.send(reply, rinfo.port, rinfo.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
  const port = socket.address().port
  return {
    port,
    server: `127.0.0.1:${port}`,
    queries,
    /** Replaces or adds names. */
    set(entries: Zone) {
      zone = { ...zone, ...normalise(entries) }
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
}

const normalise = (z: Zone): Zone => Object.fromEntries(Object.entries(z).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]))

function answer(msg: Buffer, zone: Zone, log: Array<{ name: string; type: string }>): Buffer | undefined {
  if (msg.length < 12) return undefined
  const id = msg.readUInt16BE(0)
  const { name, end } = readName(msg, 12)
  const qtype = msg.readUInt16BE(end)
  const question = msg.subarray(12, end + 4)
  const key = name.toLowerCase()
  log.push({ name: key, type: TYPES[qtype] ?? String(qtype) })
  const entry = zone[key]
  if (entry?.silent) return undefined

  let rcode = 0
  const answers: Buffer[] = []
  if (!entry) rcode = 3
  else if (entry.servfail) rcode = 2
  else {
    if (entry.CNAME && qtype !== 5) answers.push(record(5, encodeName(entry.CNAME)))
    const type = TYPES[qtype]
    if (type === 'A') for (const ip of entry.A ?? []) answers.push(record(1, Buffer.from(ip.split('.').map(Number))))
    if (type === 'AAAA') for (const ip of entry.AAAA ?? []) answers.push(record(28, ipv6Bytes(ip)))
    if (type === 'MX') for (const mx of entry.MX ?? []) answers.push(record(15, Buffer.concat([u16(mx.priority), encodeName(mx.exchange)])))
    if (type === 'TXT') for (const txt of entry.TXT ?? []) answers.push(record(16, txtData(txt)))
    if (type === 'CNAME' && entry.CNAME) answers.push(record(5, encodeName(entry.CNAME)))
    if (type === 'PTR') for (const name of entry.PTR ?? []) answers.push(record(12, encodeName(name)))
  }
  // QR, opcode 0, AA, RD copied, RA; rcode.
  const flags = 0x8400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | rcode
  const header = Buffer.concat([u16(id), u16(flags), u16(1), u16(answers.length), u16(0), u16(0)])
  return Buffer.concat([header, question, ...answers])
}

/** An answer record whose owner is the question name (compression pointer to offset 12). */
const record = (type: number, data: Buffer) =>
  Buffer.concat([Buffer.from([0xc0, 0x0c]), u16(type), u16(1), u32(60), u16(data.length), data])

const u16 = (n: number) => {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}
const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean)
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])), Buffer.from([0])])
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = []
  let pos = offset
  while (pos < msg.length && msg[pos] !== 0) {
    const len = msg[pos] as number
    labels.push(msg.subarray(pos + 1, pos + 1 + len).toString())
    pos += 1 + len
  }
  return { name: labels.join('.'), end: pos + 1 }
}

/** TXT data: the text in chunks of at most 255 bytes, each with its length byte. */
function txtData(text: string): Buffer {
  const bytes = Buffer.from(text)
  const parts: Buffer[] = []
  for (let i = 0; i < bytes.length || i === 0; i += 255) {
    const chunk = bytes.subarray(i, i + 255)
    parts.push(Buffer.from([chunk.length]), chunk)
    if (bytes.length === 0) break
  }
  return Buffer.concat(parts)
}

function ipv6Bytes(ip: string): Buffer {
  if (isIPv4(ip)) throw new Error(`${ip} is not IPv6`)
  const [head, tail] = ip.split('::') as [string, string | undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  return Buffer.concat(groups.map((g) => u16(Number.parseInt(g || '0', 16))))
}
