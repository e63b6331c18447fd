// Baseline: nodemailer's pooled SMTP transport sending the same ~2 KB messages straight to the
// same sink, a fixed number in flight. Own process (child_process.fork), driven over IPC.
import { performance } from 'node:perf_hooks'
import nodemailer from 'nodemailer'
import { ipcServer, summarize, textBody } from './lib.mjs'

async function run({ port, messages, inflight, maxMs, bodyBytes, warmup, phase }) {
  const text = textBody(bodyBytes)
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 10,
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
  })
  const send = (ph, seq) =>
    transport.sendMail({
      from: 'Bench <bench@example.com>',
      to: `rcpt${seq % 1000}@example.net`,
      subject: `bench ${ph} ${seq}`,
      text,
      headers: { 'X-Bench-Id': `${ph}.${seq}`, 'X-Bench-Sent-At': String(Date.now()) },
    })
  const errors = {}
  const pump = async (ph, count, deadline, latencies) => {
    let next = 0
    let ok = 0
    const worker = async () => {
      while (next < count && performance.now() < deadline) {
        const seq = next++
        const t0 = performance.now()
        try {
          await send(ph, seq)
          ok++
          latencies?.push(performance.now() - t0)
        } catch (err) {
          const key = err.code ?? err.message
          errors[key] = (errors[key] ?? 0) + 1
        }
      }
    }
    await Promise.all(Array.from({ length: inflight }, worker))
    return { attempted: next, ok }
  }
  try {
    await pump(`${phase}w`, warmup, performance.now() + maxMs, null)
    const latencies = []
    const t0 = performance.now()
    const { attempted, ok } = await pump(phase, messages, t0 + maxMs, latencies)
    const elapsedMs = performance.now() - t0
    return {
      requested: messages,
      attempted,
      ok,
      errors,
      elapsedMs,
      timedOut: attempted < messages,
      msgsPerS: (ok / elapsedMs) * 1000,
      latency: summarize(latencies),
    }
  } finally {
    transport.close()
  }
}

ipcServer({ run: (msg) => run(msg) })
