// A tiny authoritative DNS server on loopback UDP for the MX phase (x), run in its own process by
// the benchmark driver (child_process.fork). Same wire approach as test/helpers/dns-server.ts:
// A and MX answers from a plain object, NODATA (NOERROR, no answer) for a known name asked a type
// it has none of (the AAAA lookups Hikyaku makes next to A), NXDOMAIN for unknown names. Enough for
// Node's resolver (c-ares) pointed at it with DNS_SERVERS=127.0.0.1:<port>.
// The driver talks to it over IPC: `listen` (with the zone), `stats` (queries by type and name), `close`.
import { createSocket } from 'node:dgram'
import { ipcServer } from './lib.mjs'

const TYPES = { 1: 'A', 28: 'AAAA', 15: 'MX', 16: 'TXT', 5: 'CNAME', 6: 'SOA', 255: 'ANY' }

/** name (lower case, no trailing dot) → { A?: string[], MX?: [{ priority, exchange }] } */
let zone = {}
const stats = { queries: 0, byType: {}, byRcode: {}, byName: {}, malformed: 0 }
const socket = createSocket('udp4')

const u16 = (n) => {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}
const u32 = (n) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function encodeName(name) {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean)
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([Buffer.byteLength(l)]), Buffer.from(l)])), Buffer.from([0])])
}

/** The question name (queries carry no compression); null when the packet is cut short. */
function readName(msg, offset) {
  const labels = []
  let pos = offset
  while (pos < msg.length && msg[pos] !== 0) {
    const len = msg[pos]
    if (len > 63 || pos + 1 + len > msg.length) return null
    labels.push(msg.subarray(pos + 1, pos + 1 + len).toString('latin1'))
    pos += 1 + len
  }
  if (pos >= msg.length) return null
  return { name: labels.join('.'), end: pos + 1 }
}

/** An answer record whose owner is the question name (compression pointer to offset 12), TTL 300. */
const record = (type, data) => Buffer.concat([Buffer.from([0xc0, 0x0c]), u16(type), u16(1), u32(300), u16(data.length), data])

function answer(msg) {
  if (msg.length < 12) return null
  const q = readName(msg, 12)
  if (!q || q.end + 4 > msg.length) return null
  const id = msg.readUInt16BE(0)
  const qtype = msg.readUInt16BE(q.end)
  const question = msg.subarray(12, q.end + 4)
  const key = q.name.toLowerCase()
  const type = TYPES[qtype] ?? String(qtype)
  const entry = zone[key]
  const answers = []
  let rcode = 0
  if (!entry) rcode = 3
  else if (type === 'A') for (const ip of entry.A ?? []) answers.push(record(1, Buffer.from(ip.split('.').map(Number))))
  else if (type === 'MX')
    for (const mx of entry.MX ?? []) answers.push(record(15, Buffer.concat([u16(mx.priority), encodeName(mx.exchange)])))
  stats.queries++
  stats.byType[type] = (stats.byType[type] ?? 0) + 1
  const rname = rcode === 3 ? 'NXDOMAIN' : answers.length ? 'answer' : 'NODATA'
  stats.byRcode[rname] = (stats.byRcode[rname] ?? 0) + 1
  const nameKey = `${type} ${key}`
  stats.byName[nameKey] = (stats.byName[nameKey] ?? 0) + 1
  // QR, opcode 0, AA, RD copied, RA; rcode.
  const flags = 0x8400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | rcode
  const header = Buffer.concat([u16(id), u16(flags), u16(1), u16(answers.length), u16(0), u16(0)])
  return Buffer.concat([header, question, ...answers])
}

socket.on('message', (msg, rinfo) => {
  let reply = null
  try {
    reply = answer(msg)
  } catch {
    reply = null
  }
  if (!reply) {
    stats.malformed++
    return
  }
  socket.send(reply, rinfo.port, rinfo.address)
})
socket.on('error', () => {})

ipcServer({
  listen: ({ zone: z }) =>
    new Promise((resolve, reject) => {
      zone = Object.fromEntries(Object.entries(z).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]))
      socket.once('error', reject)
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject)
        resolve({ port: socket.address().port, names: Object.keys(zone).length })
      })
    }),
  stats: () => stats,
  close: () =>
    new Promise((resolve) => {
      socket.close(() => resolve(true))
      setTimeout(() => resolve(false), 1_000).unref()
    }),
})
