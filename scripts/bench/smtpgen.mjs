// SMTP submission load generator for phase (s), run in its own process (child_process.fork) so it
// never shares an event loop with the driver or the sink. nodemailer's pooled transport over
// STARTTLS with AUTH PLAIN (user "apikey", password = the API key), `conns` connections and
// `inflight` sendMail calls in flight, closed loop for warm-up + measured window. Every message is
// the same one the HTTP load generator posts (from, one recipient, subject, ~2 KB text body) and
// carries `X-Bench-Id: <phase>.<seq>` and `X-Bench-Sent-At: <epoch ms>`. A message counts as
// accepted when the server answered 250; anything else (a rejection, a non-250 reply, a transport
// error) is an error, tallied by SMTP reply code or error code, with a few samples.
import nodemailer from 'nodemailer'
import { ipcServer, summarize, textBody, timedSendMail, windowedLoop } from './lib.mjs'

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

async function closed({ port, user, pass, conns, inflight, warmupMs, durationMs, bodyBytes, timeoutMs, phase }) {
  const text = textBody(bodyBytes)
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: conns,
    maxMessages: Number.POSITIVE_INFINITY,
    host: '127.0.0.1',
    port,
    secure: false,
    requireTLS: true,
    auth: { user, pass },
    tls: { rejectUnauthorized: false },
    // Bounds, so that a stuck server cannot hold the phase forever.
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  })
  transport.on('error', () => {})
  const send = (seq) =>
    timedSendMail(() =>
      transport.sendMail({
        from: 'Bench <bench@example.com>',
        to: `rcpt${seq % 1000}@example.net`,
        subject: `bench ${phase} ${seq}`,
        text,
        headers: { 'X-Bench-Id': `${phase}.${seq}`, 'X-Bench-Sent-At': String(Date.now()) },
      }),
    )
  const all = tally()
  const inWindow = tally()
  let run
  try {
    run = await windowedLoop({ workers: inflight, warmupMs, durationMs, send, succeeded: (r) => r.ok, all, inWindow })
  } finally {
    transport.close()
  }
  return {
    phase,
    conns,
    inflight,
    warmupMs,
    durationMs,
    sent: run.sent,
    total: all.plain(),
    window: inWindow.plain(),
    acceptRps: (inWindow.ok / durationMs) * 1000,
    windowStartEpoch: run.windowStartEpoch,
    windowEndEpoch: run.windowEndEpoch,
    latency: summarize(run.latencies),
    tailMs: run.tailMs,
  }
}

ipcServer({ closed: (msg) => closed(msg) })
