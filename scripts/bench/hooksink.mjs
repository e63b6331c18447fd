// Webhook receiver for phases (w) and (bw), run in its own process by the benchmark driver
// (child_process.fork): node:http on 127.0.0.1, answers every POST 204 with no body, and records
// for each distinct `webhook-id` (the event id) when it first arrived, under the label the driver
// set last (`label`), with the event's own `timestamp` (event created → received latency) and its
// type. Repeats of an id (at-least-once) are counted as duplicates. One request in `sampleEvery`
// has its Standard Webhooks signature verified with the `standardwebhooks` library and the
// endpoint's secret (`setSecret`); failures are counted, with a few samples.
// The driver queries it over IPC: `listen`, `setSecret`, `label`, `counts`, `dump`, `close`.
import http from 'node:http'
import { Webhook } from 'standardwebhooks'
import { ipcServer } from './lib.mjs'

const TYPE_RE = /^\{"type":"([^"]{1,64})"/
const TS_RE = /"timestamp":"([^"]{10,40})"/

let label = 'none'
let verifier = null
let sampleEvery = 50
/** webhook-id → label of its first arrival (distinct ids). */
const seen = new Map()
/** label → { at: epoch ms of first arrivals, lag: ms from the event's timestamp, types: {type: n} } */
const labels = new Map()
const c = {
  requests: 0,
  duplicates: 0,
  noId: 0,
  badMethod: 0,
  verified: 0,
  verifyFailed: 0,
  verifySamples: [],
  connections: 0,
  maxConnections: 0,
  opened: 0,
}

function labelOf(name) {
  let l = labels.get(name)
  if (!l) {
    l = { at: [], lag: [], types: {}, duplicates: 0 }
    labels.set(name, l)
  }
  return l
}

function onBody(req, body) {
  const now = Date.now()
  c.requests++
  const id = req.headers['webhook-id']
  if (typeof id !== 'string' || id === '') {
    c.noId++
    return
  }
  if (verifier && c.requests % sampleEvery === 0) {
    try {
      verifier.verify(body, req.headers)
      c.verified++
    } catch (err) {
      c.verifyFailed++
      if (c.verifySamples.length < 5) c.verifySamples.push(`${id}: ${err?.message ?? err}`)
    }
  }
  const l = labelOf(label)
  if (seen.has(id)) {
    c.duplicates++
    l.duplicates++
    return
  }
  seen.set(id, label)
  l.at.push(now)
  const text = body.toString('utf8', 0, Math.min(body.length, 4096))
  const type = TYPE_RE.exec(text)?.[1] ?? '(unknown)'
  l.types[type] = (l.types[type] ?? 0) + 1
  const ts = TS_RE.exec(text)?.[1]
  const t = ts ? Date.parse(ts) : Number.NaN
  l.lag.push(Number.isFinite(t) ? now - t : -1)
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    c.badMethod++
    res.writeHead(405).end()
    return
  }
  const chunks = []
  req.on('data', (d) => chunks.push(d))
  req.on('end', () => {
    onBody(req, Buffer.concat(chunks))
    res.writeHead(204).end()
  })
  req.on('error', () => {})
})
server.keepAliveTimeout = 30_000
server.headersTimeout = 35_000
server.on('connection', (sock) => {
  c.opened++
  c.connections++
  if (c.connections > c.maxConnections) c.maxConnections = c.connections
  sock.on('close', () => {
    c.connections--
  })
})

ipcServer({
  listen: () =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve({ port: server.address().port }))
    }),
  setSecret: ({ secret, every }) => {
    verifier = new Webhook(secret)
    if (every) sampleEvery = every
    return true
  },
  /** Later first arrivals count under `name`. */
  label: ({ name }) => {
    label = name
    labelOf(name)
    return true
  },
  counts: () => {
    const byLabel = {}
    for (const [name, l] of labels) byLabel[name] = { distinct: l.at.length, duplicates: l.duplicates, types: l.types }
    const { verifySamples, ...rest } = c
    return { ...rest, distinct: seen.size, byLabel, verifySamples, now: Date.now() }
  },
  /** First-arrival times (epoch ms) and event→arrival lags (ms; -1 when unknown) of one label. */
  dump: ({ name }) => {
    const l = labels.get(name)
    return l ? { at: l.at, lag: l.lag, types: l.types, duplicates: l.duplicates } : { at: [], lag: [], types: {}, duplicates: 0 }
  },
  close: () =>
    new Promise((resolve) => {
      server.close(() => resolve(true))
      server.closeAllConnections?.()
      setTimeout(() => resolve(false), 2_000).unref()
    }),
})
