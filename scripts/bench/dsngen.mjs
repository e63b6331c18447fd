// DSN generator for phase (i), run in its own process (child_process.fork): submits delivery
// status notifications to `hikyaku inbound` the way a remote MTA does — nodemailer's pooled
// transport, `conns` connections, STARTTLS when offered (like Postfix with TLS "may"), MAIL FROM:<>,
// one RCPT: the signed return path of a real delivery — `inflight` messages in flight, closed loop
// for warm-up + measured window. Each message is a DSN written by a real Postfix (the template the
// driver passes) with its return path and recipient replaced by those of the target. Targets are
// used in order, each once; if the run outlasts the list it starts again (a repeat is stored, and
// changes nothing). A message counts as accepted when the server answered 250.
import nodemailer from 'nodemailer'
import { ipcServer, summarize, timedSendMail, windowedLoop } from './lib.mjs'

/** The fixture's return path (any delivery, any tag) on its bounce domain. */
const VERP_RE = /bounces\+[0-9a-f]{32}-[a-z2-7]+@bounces\.example\.com/g

function tally() {
  const t = { ok: 0, errors: {}, samples: [] }
  t.add = (r) => {
    if (r.ok) {
      t.ok++
      return
    }
    t.errors[r.key] = (t.errors[r.key] ?? 0) + 1
    if (t.samples.length < 5) t.samples.push({ key: r.key, message: r.message })
  }
  t.count = () => Object.values(t.errors).reduce((x, y) => x + y, 0)
  t.plain = () => ({ ok: t.ok, errors: t.errors, errorCount: t.count(), samples: t.samples })
  return t
}

async function closed({ port, template, placeholderRecipient, targets, conns, inflight, warmupMs, durationMs, timeoutMs, tls }) {
  if (!targets.length) throw new Error('no targets')
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: conns,
    maxMessages: Number.POSITIVE_INFINITY,
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: !tls,
    tls: { rejectUnauthorized: false },
    name: 'mta.bench.test',
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  })
  transport.on('error', () => {})
  // Indices of the targets answered 250 (a target repeats only when the list runs out).
  const accepted = new Uint8Array(targets.length)
  let bytes = 0
  const send = async (seq) => {
    const i = seq % targets.length
    const { verp, address } = targets[i]
    const raw = template.replace(VERP_RE, verp).replaceAll(placeholderRecipient, address)
    bytes += raw.length
    const result = await timedSendMail(() => transport.sendMail({ envelope: { from: '', to: [verp] }, raw }))
    if (result.ok) accepted[i] = 1
    return result
  }
  const all = tally()
  const inWindow = tally()
  let run
  try {
    run = await windowedLoop({ workers: inflight, warmupMs, durationMs, send, succeeded: (r) => r.ok, all, inWindow })
  } finally {
    transport.close()
  }
  const acceptedIdx = []
  for (let i = 0; i < accepted.length; i++) if (accepted[i]) acceptedIdx.push(i)
  return {
    conns,
    inflight,
    warmupMs,
    durationMs,
    tls: !!tls,
    sent: run.sent,
    wrapped: run.sent > targets.length,
    meanBytes: run.sent ? bytes / run.sent : null,
    total: all.plain(),
    window: inWindow.plain(),
    acceptRps: (inWindow.ok / durationMs) * 1000,
    windowStartEpoch: run.windowStartEpoch,
    windowEndEpoch: run.windowEndEpoch,
    latency: summarize(run.latencies),
    tailMs: run.tailMs,
    acceptedIdx,
  }
}

ipcServer({ closed: (msg) => closed(msg) })
