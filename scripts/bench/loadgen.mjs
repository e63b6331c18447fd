// HTTP load generator for POST /v1/emails, run in its own process (child_process.fork) so it never
// shares an event loop with the driver or the sink. Keep-alive agents only.
//   closed: N connections each sending back to back for warm-up + measured window
//   open:   evenly spaced requests at a fixed rate (no bursts); latency counted from the moment a
//           request was due, so a slow server cannot hide its queueing (no coordinated omission)
//   overload: N connections sending back to back like `closed`, but behaving like an SDK: after a
//           503 (or 429) a connection waits the Retry-After delay (capped, optionally with jitter)
//           before its next request. The measured window starts at the first 503 (admission
//           control engaged) or after the longest warm-up, whichever comes first.
// Recipients are rcpt<n>@example.net, or spread round-robin over the domains `init` was given.
// Every message carries `X-Bench-Id: <phase>.<seq>` and `X-Bench-Sent-At: <epoch ms>`.
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { ipcServer, summarize, textBody, windowedLoop } from './lib.mjs'

let cfg // { url, key, bodyBytes, timeoutMs, maxInflight, toDomains? }
let text
let base
/** 202s per phase over the whole run, for the driver's memory sampler (`stats`). */
const acceptedByPhase = {}

function buildAgent(maxSockets) {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'fifo' })
}

/** example.net, or round-robin over cfg.toDomains (phase (x): one per MX host). */
const recipientDomain = (seq) => (cfg.toDomains?.length ? cfg.toDomains[seq % cfg.toDomains.length] : 'example.net')

/** One POST; resolves (never rejects) with {status, ms, acceptedAt, code?, body?}. `t0` is when it counts from. */
function post(agent, phase, seq, t0 = performance.now()) {
  return new Promise((resolve) => {
    const sentAt = Date.now()
    const payload = JSON.stringify({
      from: 'Bench <bench@example.com>',
      to: `rcpt${seq % 1000}@${recipientDomain(seq)}`,
      subject: `bench ${phase} ${seq}`,
      text,
      headers: { 'X-Bench-Id': `${phase}.${seq}`, 'X-Bench-Sent-At': String(sentAt) },
    })
    let settled = false
    const finish = (r) => {
      if (settled) return
      settled = true
      resolve(r)
    }
    const req = http.request({
      agent,
      host: base.hostname,
      port: base.port,
      path: '/v1/emails',
      method: 'POST',
      headers: {
        authorization: `Bearer ${cfg.key}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      },
    })
    req.setTimeout(cfg.timeoutMs, () => req.destroy(Object.assign(new Error('request timed out'), { code: 'TIMEOUT' })))
    req.on('response', (res) => {
      const chunks = []
      res.on('data', (c) => {
        if (res.statusCode !== 202) chunks.push(c)
      })
      res.on('end', () => {
        if (res.statusCode === 202) acceptedByPhase[phase] = (acceptedByPhase[phase] ?? 0) + 1
        finish({
          status: res.statusCode,
          ms: performance.now() - t0,
          acceptedAt: Date.now(),
          body: res.statusCode === 202 ? undefined : Buffer.concat(chunks).toString('utf8').slice(0, 300),
          retryAfter: res.statusCode === 202 ? undefined : res.headers['retry-after'],
        })
      })
      res.on('error', (err) => finish({ status: 0, ms: performance.now() - t0, code: err.code ?? err.message }))
    })
    req.on('error', (err) => finish({ status: 0, ms: performance.now() - t0, code: err.code ?? err.message }))
    req.end(payload)
  })
}

/** Tallies of responses, with a few samples of each kind of failure. */
function tally() {
  const t = { ok202: 0, byStatus: {}, errors: {}, samples: [] }
  t.add = (r) => {
    if (r.status === 202) {
      t.ok202++
      return
    }
    if (r.status === 0) t.errors[r.code] = (t.errors[r.code] ?? 0) + 1
    else t.byStatus[r.status] = (t.byStatus[r.status] ?? 0) + 1
    if (t.samples.length < 5) t.samples.push({ status: r.status, code: r.code, body: r.body })
  }
  t.plain = () => ({ ok202: t.ok202, byStatus: t.byStatus, errors: t.errors, samples: t.samples })
  return t
}

async function closedLoop({ phase, conns, warmupMs, durationMs }) {
  const agent = buildAgent(conns)
  const all = tally()
  const inWindow = tally()
  const run = await windowedLoop({
    workers: conns,
    warmupMs,
    durationMs,
    send: (seq) => post(agent, phase, seq),
    succeeded: (r) => r.status === 202,
    all,
    inWindow,
  })
  agent.destroy()
  return {
    phase,
    conns,
    warmupMs,
    durationMs,
    sent: run.sent,
    total: all.plain(),
    window: inWindow.plain(),
    acceptRps: (inWindow.ok202 / durationMs) * 1000,
    windowStartEpoch: run.windowStartEpoch,
    windowEndEpoch: run.windowEndEpoch,
    latency: summarize(run.latencies),
    tailMs: run.tailMs,
  }
}

/**
 * How long an SDK-like client waits before its next request after `r`: the Retry-After delay
 * (delta-seconds or an HTTP date) of a 503/429, 1 s when such an answer has none, 100 ms after a
 * transport error (so a dead server is not hammered in a tight loop), else nothing. Capped; then
 * stretched by a random factor in [1, 1 + jitter) (never shorter than asked).
 */
function backoffMs(r, capMs, jitter) {
  return baseBackoffMs(r, capMs) * (1 + Math.random() * jitter)
}

function baseBackoffMs(r, capMs) {
  let ms = 0
  if (r.status === 503 || r.status === 429) {
    ms = 1000
    const h = r.retryAfter
    if (h !== undefined && h !== '') {
      const secs = Number(h)
      if (Number.isFinite(secs) && secs >= 0) ms = secs * 1000
      else if (Number.isFinite(Date.parse(h))) ms = Math.max(0, Date.parse(h) - Date.now())
    }
  } else if (r.status === 0) {
    ms = 100
  }
  return Math.min(ms, capMs)
}

async function overloadLoop({ phase, conns, warmupMs, durationMs, retryCapMs, jitter = 0 }) {
  const agent = buildAgent(conns)
  const started = performance.now()
  const startEpoch = Date.now()
  // Moves earlier (never later) to the first 503; requests that ended before it stay warm-up.
  let windowStart = started + warmupMs
  let windowEnd = windowStart + durationMs
  const all = tally()
  const inWindow = tally()
  const latencies = []
  const rejectLatencies = []
  const retryAfter = {} // header value → count
  const perSecond = [] // whole seconds since the start: { ok, rejected, other }
  let seq = 0
  let waits = 0
  let waitedMs = 0
  let firstRejectMs = null
  const loop = async () => {
    while (performance.now() < windowEnd) {
      const r = await post(agent, phase, seq++)
      all.add(r)
      const end = performance.now()
      const sec = Math.floor((end - started) / 1000)
      for (let k = perSecond.length; k <= sec; k++) perSecond.push({ ok: 0, rejected: 0, other: 0 })
      const bucket = perSecond[sec]
      if (r.status === 202) bucket.ok++
      else if (r.status === 503) bucket.rejected++
      else bucket.other++
      if (r.status === 503) {
        if (firstRejectMs === null) {
          firstRejectMs = end - started
          if (end < windowStart) {
            windowStart = end
            windowEnd = windowStart + durationMs
          }
        }
        const key = String(r.retryAfter ?? 'none')
        retryAfter[key] = (retryAfter[key] ?? 0) + 1
      }
      if (end >= windowStart && end <= windowEnd) {
        inWindow.add(r)
        if (r.status === 202) latencies.push(r.ms)
        else if (r.status === 503) rejectLatencies.push(r.ms)
      }
      // Never sleeps past the end of the window, so the phase ends on time.
      const delay = Math.min(backoffMs(r, retryCapMs, jitter), windowEnd - performance.now())
      if (delay > 0) {
        waits++
        waitedMs += delay
        await sleep(delay)
      }
    }
  }
  await Promise.all(Array.from({ length: conns }, loop))
  const finished = performance.now()
  agent.destroy()
  return {
    phase,
    conns,
    warmupMs,
    durationMs,
    retryCapMs,
    jitter,
    sent: seq,
    total: all.plain(),
    window: inWindow.plain(),
    acceptRps: (inWindow.ok202 / durationMs) * 1000,
    rejectRps: ((inWindow.byStatus[503] ?? 0) / durationMs) * 1000,
    warmupUsedMs: windowStart - started,
    windowStartEpoch: startEpoch + (windowStart - started),
    windowEndEpoch: startEpoch + (windowEnd - started),
    latency: summarize(latencies),
    rejectLatency: summarize(rejectLatencies),
    retryAfter,
    waits,
    waitedMs,
    firstRejectMs,
    perSecond,
    tailMs: finished - windowEnd,
  }
}

async function openLoop({ phase, rate, durationMs, maxSockets }) {
  const agent = buildAgent(maxSockets)
  const total = Math.max(1, Math.round((rate * durationMs) / 1000))
  const interval = 1000 / rate
  const start = performance.now() + 50
  // Epoch ms on Date.now()'s clock, which the sink also uses for arrivals.
  const startEpoch = Date.now() + (start - performance.now())
  const all = tally()
  const latencies = []
  const acceptedAt = new Array(total).fill(-1)
  const lags = []
  let i = 0
  let inflight = 0
  let skipped = 0
  let maxInflight = 0
  let lastReport = 0
  let resolveDone
  const done = new Promise((r) => {
    resolveDone = r
  })
  const report = (force) => {
    const now = performance.now()
    if (!force && now - lastReport < 1000) return
    lastReport = now
    if (process.connected) process.send({ type: 'progress', phase, due: i, accepted: all.ok202, inflight, skipped, at: Date.now() })
  }
  const fire = (seq, due) => {
    inflight++
    if (inflight > maxInflight) maxInflight = inflight
    post(agent, phase, seq, due).then((r) => {
      inflight--
      all.add(r)
      if (r.status === 202) {
        latencies.push(r.ms)
        acceptedAt[seq] = r.acceptedAt
      }
      if (i >= total && inflight === 0) resolveDone()
    })
  }
  const tick = () => {
    const now = performance.now()
    while (i < total && start + i * interval <= now) {
      const due = start + i * interval
      lags.push(now - due)
      if (inflight >= cfg.maxInflight) skipped++
      else fire(i, due)
      i++
    }
    report(false)
    if (i < total) setTimeout(tick, Math.max(0, start + i * interval - performance.now()))
    else if (inflight === 0) resolveDone()
  }
  setTimeout(tick, Math.max(0, start - performance.now()))
  await done
  report(true)
  agent.destroy()
  return {
    phase,
    rate,
    durationMs,
    scheduled: total,
    skipped,
    maxInflight,
    startEpoch,
    endEpoch: startEpoch + durationMs,
    total: all.plain(),
    latency: summarize(latencies),
    schedulerLag: summarize(lags),
    acceptedAt,
  }
}

ipcServer({
  init: (msg) => {
    cfg = msg.cfg
    base = new URL(cfg.url)
    text = textBody(cfg.bodyBytes)
    return { bodyBytes: text.length }
  },
  one: async ({ phase }) => {
    const agent = buildAgent(1)
    const r = await post(agent, phase, 0)
    agent.destroy()
    return r
  },
  closed: (msg) => closedLoop(msg),
  open: (msg) => openLoop(msg),
  overload: (msg) => overloadLoop(msg),
  stats: () => ({ acceptedByPhase }),
})
