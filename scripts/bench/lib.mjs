import { performance } from 'node:perf_hooks'
// Shared helpers for the benchmark processes (driver, load generator, SMTP sink, baseline).
// Plain ESM on Node built-ins only, so every process starts fast and nothing is compiled.

/** Milliseconds from an env var holding seconds (decimals allowed), with a default. */
export function envSeconds(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback * 1000
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number of seconds (got "${raw}")`)
  return Math.round(n * 1000)
}

export function envInt(name, fallback, min = 0) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min} (got "${raw}")`)
  return n
}

export function envNumber(name, fallback, min = 0) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min} (got "${raw}")`)
  return n
}

export function envFlag(name) {
  const raw = (process.env[name] ?? '').toLowerCase()
  return raw === '1' || raw === 'true' || raw === 'yes'
}

/** Nearest-rank percentile of an already sorted array; null when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export function summarize(values) {
  const sorted = Float64Array.from(values).sort()
  const n = sorted.length
  let sum = 0
  for (const v of sorted) sum += v
  return {
    n,
    mean: n ? sum / n : null,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: n ? sorted[n - 1] : null,
  }
}

/** Round to a few significant places: 1234.56 -> 1235, 12.345 -> 12.3, 1.2345 -> 1.23. */
/**
 * A closed loop of `workers` callers, each sending back to back until the window ends. Results
 * go to `all`, and to `inWindow` when they end inside the measured window (after the warm-up);
 * latencies of successful results in the window are returned with the window's bounds.
 */
export async function windowedLoop({ workers, warmupMs, durationMs, send, succeeded, all, inWindow }) {
  const started = performance.now()
  const startEpoch = Date.now()
  const windowStart = started + warmupMs
  const windowEnd = windowStart + durationMs
  const latencies = []
  let seq = 0
  const loop = async () => {
    while (performance.now() < windowEnd) {
      const r = await send(seq++)
      all.add(r)
      const end = performance.now()
      if (end >= windowStart && end <= windowEnd) {
        inWindow.add(r)
        if (succeeded(r)) latencies.push(r.ms)
      }
    }
  }
  await Promise.all(Array.from({ length: workers }, loop))
  return {
    sent: seq,
    latencies,
    windowStartEpoch: startEpoch + warmupMs,
    windowEndEpoch: startEpoch + warmupMs + durationMs,
    tailMs: performance.now() - windowEnd,
  }
}

export function round(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return null
  const a = Math.abs(v)
  if (a >= 100) return Math.round(v)
  if (a >= 10) return Math.round(v * 10) / 10
  if (a >= 0.01) return Math.round(v * 100) / 100
  return Math.round(v * 1000) / 1000
}

/**
 * A plain ASCII text body of exactly `bytes` bytes in lines of at most 72 characters, so both
 * Hikyaku and the baseline send it as 7bit without any re-encoding.
 */
export function textBody(bytes) {
  const words =
    'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua'.split(' ')
  let out = ''
  let line = ''
  let i = 0
  while (out.length + line.length < bytes) {
    const w = words[i++ % words.length]
    if (line.length + w.length + 1 > 72) {
      out += `${line}\n`
      line = ''
    }
    line += line ? ` ${w}` : w
  }
  return (out + line).slice(0, bytes)
}

/** Request/response over a child-process IPC channel: `{id, cmd, ...}` → `{id, ok, result|error}`. */
export function ipcClient(child, name) {
  let next = 1
  const pending = new Map()
  const listeners = []
  child.on('message', (msg) => {
    if (msg && typeof msg.id === 'number' && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id)
      pending.delete(msg.id)
      if (msg.ok) resolve(msg.result)
      else reject(new Error(`${name}: ${msg.error}`))
    } else {
      for (const l of listeners) l(msg)
    }
  })
  const failAll = (why) => {
    for (const { reject } of pending.values()) reject(new Error(`${name}: ${why}`))
    pending.clear()
  }
  child.on('exit', (code, signal) => failAll(`exited (code ${code}, signal ${signal})`))
  child.on('disconnect', () => failAll('IPC channel closed'))
  return {
    call(cmd, args = {}, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        if (!child.connected) return reject(new Error(`${name}: not connected`))
        const id = next++
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${name}: "${cmd}" got no answer within ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer)
            resolve(v)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        })
        child.send({ id, cmd, ...args })
      })
    },
    onPush(fn) {
      listeners.push(fn)
    },
  }
}

/** Child side of ipcClient: dispatches commands to handlers; exits when the parent goes away. */
export function ipcServer(handlers) {
  process.on('disconnect', () => process.exit(0))
  process.on('message', async (msg) => {
    if (!msg || typeof msg.id !== 'number') return
    const handler = handlers[msg.cmd]
    try {
      if (!handler) throw new Error(`unknown command ${msg.cmd}`)
      const result = await handler(msg)
      if (process.connected) process.send({ id: msg.id, ok: true, result })
    } catch (err) {
      if (process.connected) process.send({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) })
    }
  })
}

/**
 * One sendMail as the windowed loop tallies it: a 250 is a success; anything else, thrown or
 * answered, is keyed by its SMTP code (or error code) with the start of its text.
 */
export async function timedSendMail(sendMail) {
  const t0 = performance.now()
  try {
    const response = String((await sendMail())?.response ?? '')
    if (/^250[ -]/.test(response)) return { ok: true, ms: performance.now() - t0 }
    return { ok: false, ms: performance.now() - t0, key: response.slice(0, 3) || 'no reply', message: response.slice(0, 300) }
  } catch (err) {
    return {
      ok: false,
      ms: performance.now() - t0,
      key: err?.responseCode ? String(err.responseCode) : (err?.code ?? 'error'),
      message: String(err?.response ?? err?.message ?? err).slice(0, 300),
    }
  }
}
