// A fast loopback SMTP sink, run in its own process by the benchmark driver (child_process.fork).
// It accepts everything (no AUTH required, no STARTTLS), throws the body away, and records for each
// message the time its DATA ended, keyed by the `X-Bench-Id: <phase>.<seq>` header the load
// generator put in; `X-Bench-Sent-At` (epoch ms) gives a submit→arrival latency as well.
// It can also listen on several loopback addresses at once, one port (`listenMx`): the MX hosts
// of phase (x), with per-address connection and message counts (`mxStats`).
// The driver queries it over IPC: `listen`, `listenMx`, `counts`, `mxStats`, `between`, `dump`.
import { SMTPServer } from 'smtp-server'
import { ipcServer } from './lib.mjs'

const HEADER_LIMIT = 64 * 1024
const ID_RE = /^x-bench-id:[ \t]*([A-Za-z0-9_-]+)\.(\d+)/im
const SENT_RE = /^x-bench-sent-at:[ \t]*(\d+)/im

/** phase → { arrivals: Map<seq, epoch ms>, sentAt: Map<seq, epoch ms> } */
const phases = new Map()
let total = 0
let duplicates = 0
let untagged = 0
let connections = 0
let maxConnections = 0
let errors = 0

function phaseOf(name) {
  let p = phases.get(name)
  if (!p) {
    p = { arrivals: new Map(), sentAt: new Map() }
    phases.set(name, p)
  }
  return p
}

function record(header, arrivedAt) {
  total++
  const id = ID_RE.exec(header)
  if (!id) {
    untagged++
    return
  }
  const p = phaseOf(id[1])
  const seq = Number(id[2])
  if (p.arrivals.has(seq)) {
    duplicates++
    return
  }
  p.arrivals.set(seq, arrivedAt)
  const sent = SENT_RE.exec(header)
  if (sent) p.sentAt.set(seq, Number(sent[1]))
}

/**
 * An SMTP server that records what it receives. `addr` (MX sinks only) gets per-listener counts:
 * connections opened, open at once (now and at most), messages, and the most messages any one
 * connection carried (open ones included) — to see connection reuse and its per-connection cap.
 */
function makeServer(addr) {
  const server = new SMTPServer({
    name: 'bench-sink',
    banner: 'bench sink',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    logger: false,
    maxClients: 10_000,
    socketTimeout: 120_000,
    onConnect(_session, callback) {
      connections++
      if (connections > maxConnections) maxConnections = connections
      if (addr) {
        addr.opened++
        addr.open++
        if (addr.open > addr.maxOpen) addr.maxOpen = addr.open
      }
      callback()
    },
    onClose(session) {
      connections--
      if (addr) {
        addr.open--
        const n = addr.perConn.get(session.id) ?? 0
        addr.perConn.delete(session.id)
        if (n > addr.maxPerConnClosed) addr.maxPerConnClosed = n
      }
    },
    onData(stream, session, callback) {
      // Only the header block is kept (the first chunk nearly always holds all of it).
      let head = ''
      let done = false
      stream.on('data', (chunk) => {
        if (done) return
        head += chunk.toString('latin1')
        const end = head.indexOf('\r\n\r\n')
        if (end >= 0) {
          head = head.slice(0, end + 2)
          done = true
        } else if (head.length > HEADER_LIMIT) {
          done = true
        }
      })
      stream.on('end', () => {
        record(head, Date.now())
        if (addr) {
          addr.messages++
          addr.perConn.set(session.id, (addr.perConn.get(session.id) ?? 0) + 1)
        }
        callback(null, 'OK queued')
      })
      stream.on('error', (err) => {
        errors++
        callback(err)
      })
    },
  })
  server.on('error', () => {
    errors++
  })
  return server
}

const listenOn = (srv, port, host) =>
  new Promise((resolve, reject) => {
    srv.once('error', reject)
    srv.listen(port, host, () => {
      srv.off('error', reject)
      resolve(srv.server.address().port)
    })
  })

const closeServer = (srv) =>
  new Promise((resolve) => {
    srv.close(() => resolve(true))
    setTimeout(() => resolve(false), 2_000).unref()
  })

const server = makeServer(null)
/** MX sinks: address → { server, stats } (all on one port, one per loopback address). */
const mxSinks = new Map()

ipcServer({
  listen: async ({ port }) => ({ port: await listenOn(server, port ?? 0, '127.0.0.1') }),
  /**
   * One more listener per address (loopback ones such as 127.0.0.21), all on one port, recording
   * like the main one: the MX hosts of phase (x). The port is the first free one the first address
   * gets; taken on another address, everything is closed and tried again (bounded).
   */
  listenMx: async ({ addresses }) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const opened = []
      let port = 0
      try {
        for (const host of addresses) {
          const stats = { opened: 0, open: 0, maxOpen: 0, messages: 0, perConn: new Map(), maxPerConnClosed: 0 }
          const srv = makeServer(stats)
          opened.push([host, srv, stats])
          port = await listenOn(srv, port, host)
        }
        for (const [host, srv, stats] of opened) mxSinks.set(host, { server: srv, stats })
        return { port, addresses: addresses.length }
      } catch (err) {
        await Promise.all(opened.map(([, srv]) => closeServer(srv)))
        if (err.code !== 'EADDRINUSE' || attempt === 4) throw err
      }
    }
  },
  /** Per MX-sink address: connections opened, open now, most open at once, messages, most messages on one connection. */
  mxStats: () =>
    Object.fromEntries(
      [...mxSinks].map(([host, { stats: s }]) => [
        host,
        {
          opened: s.opened,
          open: s.open,
          maxOpen: s.maxOpen,
          messages: s.messages,
          maxPerConnection: Math.max(s.maxPerConnClosed, ...s.perConn.values()),
        },
      ]),
    ),
  /** How many distinct messages arrived per phase, plus totals. */
  counts: () => {
    const byPhase = {}
    for (const [name, p] of phases) byPhase[name] = p.arrivals.size
    return { byPhase, total, duplicates, untagged, errors, connections, maxConnections, now: Date.now() }
  },
  /** Arrivals (all phases) with from ≤ arrival ≤ to, epoch ms: total and per phase. */
  between: ({ from, to }) => {
    const byPhase = {}
    let n = 0
    for (const [name, p] of phases) {
      let k = 0
      for (const t of p.arrivals.values()) if (t >= from && t <= to) k++
      if (k) byPhase[name] = k
      n += k
    }
    return { total: n, byPhase }
  },
  /** Every arrival of one phase as parallel arrays: seq, arrival epoch ms, sent-at epoch ms (or -1). */
  dump: ({ phase }) => {
    const p = phases.get(phase)
    const seq = []
    const arrivedAt = []
    const sentAt = []
    if (p) {
      for (const [s, t] of p.arrivals) {
        seq.push(s)
        arrivedAt.push(t)
        sentAt.push(p.sentAt.get(s) ?? -1)
      }
    }
    return { seq, arrivedAt, sentAt }
  },
  close: async () => (await Promise.all([server, ...[...mxSinks.values()].map((s) => s.server)].map(closeServer))).every(Boolean),
})
