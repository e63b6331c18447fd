// (k) campaigns: batch accept and the transactional lane under a broadcast backlog. Bounded in
// count and time; loopback only.
//   (k1) POST /v1/emails/batch: BENCH_BATCHES batches of 1,000 broadcast messages (defaults
//        merged under items that carry only their recipient and bench headers), BENCH_BATCH_CONNS
//        requests in flight; msgs/s accepted = items answered in `data` / wall time. Measured
//        twice, half the batches each: (k1a) the API tier's own rate, with the worker stopped
//        (SIGSTOP: its jobs wait in Redis, as they do while workers run on other machines), and
//        (k1b) with the worker resumed and draining the broadcast lane on the same two cores.
//   (k2) right after, while the broadcast lane works through (k1)'s backlog: BENCH_TX_COUNT
//        transactional sends at BENCH_TX_RATE/s, each timed from its send to its arrival at the
//        sink (X-Bench-Sent-At); p50/p99, and the broadcast backlog (accepted, not yet arrived)
//        when the first and the last transactional message arrived.
//   Then waits (bounded by BENCH_BATCH_DRAIN_SECONDS) until the sink has every broadcast message,
//   so later phases start on an empty queue.
import http from 'node:http'
import { envInt, envSeconds, summarize } from './lib.mjs'

const C = {
  batches: envInt('BENCH_BATCHES', 50, 1),
  conns: envInt('BENCH_BATCH_CONNS', 2, 1),
  txCount: envInt('BENCH_TX_COUNT', 100, 1),
  txRate: envInt('BENCH_TX_RATE', 10, 1),
  drainMs: envSeconds('BENCH_BATCH_DRAIN_SECONDS', 240),
}

function post(port, key, path, body, timeoutMs = 60_000) {
  const payload = Buffer.from(JSON.stringify(body))
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': payload.length },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => {
          let json = null
          try {
            json = JSON.parse(Buffer.concat(chunks).toString())
          } catch {}
          resolve({ status: res.statusCode, json })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (err) => resolve({ status: 0, error: err.message }))
    req.end(payload)
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export async function campaignsPhase({ apiPort, key, sink, progress, bodyBytes, pauseDelivery, resumeDelivery }) {
  const text = 'x'.repeat(Math.max(1, bodyBytes ?? 1024))
  const out = { batches: C.batches, conns: C.conns, txRate: C.txRate, accepted: 0, refused: 0, failedRequests: 0 }
  // (k1a) then (k1b)
  let next = 0
  const half = Math.ceil(C.batches / 2)
  const accept = async (upTo) => {
    const accepted0 = out.accepted
    const t0 = performance.now()
    await Promise.all(Array.from({ length: C.conns }, () => worker(upTo)))
    const ms = performance.now() - t0
    return { accepted: out.accepted - accepted0, ms, msgsPerS: (out.accepted - accepted0) / (ms / 1000) }
  }
  const worker = async (upTo) => {
    for (;;) {
      const b = next++
      if (b >= upTo) {
        next = Math.min(next, upTo)
        return
      }
      const sentAt = Date.now()
      const res = await post(apiPort, key, '/v1/emails/batch', {
        defaults: { from: 'Bench <bench@example.com>', subject: 'bench batch', text, stream: 'broadcast' },
        emails: Array.from({ length: 1000 }, (_, i) => ({
          to: `kb${b}-${i}@example.net`,
          headers: { 'X-Bench-Id': `kb.${b * 1000 + i}`, 'X-Bench-Sent-At': String(sentAt) },
        })),
      })
      if (res.status !== 202) out.failedRequests++
      out.accepted += res.json?.data?.length ?? 0
      out.refused += res.json?.errors?.length ?? 0
    }
  }
  pauseDelivery()
  try {
    out.apiTier = await accept(half)
  } finally {
    resumeDelivery()
  }
  out.shared = await accept(C.batches)
  out.acceptMs = out.apiTier.ms + out.shared.ms
  out.msgsPerS = out.apiTier.msgsPerS
  progress(
    `phase k1: ${out.accepted} broadcast messages in ${C.batches} batches; API tier alone ${Math.round(out.apiTier.msgsPerS)} msgs/s, with the worker draining beside it ${Math.round(out.shared.msgsPerS)} msgs/s`,
  )

  // (k2)
  // A batch that timed out after committing is not counted as accepted: never below zero.
  const backlogAt = async () => Math.max(0, out.accepted - ((await sink.call('counts')).byPhase.kb ?? 0))
  out.backlogAtStart = await backlogAt()
  const sends = []
  for (let i = 0; i < C.txCount; i++) {
    const due = Date.now()
    sends.push(
      post(apiPort, key, '/v1/emails', {
        from: 'Bench <bench@example.com>',
        to: `kt${i}@example.net`,
        subject: 'bench transactional',
        text: 'Your code is 123456',
        headers: { 'X-Bench-Id': `kt.${i}`, 'X-Bench-Sent-At': String(due) },
      }),
    )
    await sleep(1000 / C.txRate)
  }
  const answers = await Promise.all(sends)
  const txAccepted = answers.filter((a) => a.status === 202).length
  const deadline = Date.now() + 30_000
  while (((await sink.call('counts')).byPhase.kt ?? 0) < txAccepted && Date.now() < deadline) await sleep(100)
  out.backlogAtEnd = await backlogAt()
  const dump = await sink.call('dump', { phase: 'kt' }, 60_000)
  const latencies = dump.arrivedAt.map((t, i) => t - dump.sentAt[i]).filter((v) => Number.isFinite(v))
  out.tx = { sent: C.txCount, accepted: txAccepted, arrived: latencies.length, latency: summarize(latencies) }
  progress(
    `phase k2: ${latencies.length}/${C.txCount} transactional at the sink, p50 ${Math.round(out.tx.latency.p50 ?? 0)} ms, p99 ${Math.round(out.tx.latency.p99 ?? 0)} ms; broadcast backlog ${out.backlogAtStart} → ${out.backlogAtEnd}`,
  )

  // Every broadcast message delivered before the next phase.
  const t1 = Date.now()
  while ((await backlogAt()) > 0 && Date.now() - t1 < C.drainMs) await sleep(500)
  out.drainMs = Date.now() - t1
  out.missing = await backlogAt()
  const kb = await sink.call('dump', { phase: 'kb' }, 60_000)
  let first = Number.POSITIVE_INFINITY
  let last = 0
  for (const t of kb.arrivedAt) {
    first = Math.min(first, t)
    last = Math.max(last, t)
  }
  out.broadcastDeliverRate = kb.arrivedAt.length > 1 && last > first ? (kb.arrivedAt.length - 1) / ((last - first) / 1000) : null
  return out
}
