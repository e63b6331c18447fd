// Benchmark driver for `npm run bench` (started by scripts/bench.sh, which documents the knobs).
// Sets up a fresh database and a unique BullMQ prefix, starts the SMTP sink, the Hikyaku API,
// worker and SMTP submission server, and the HTTP and SMTP load generators (loadgen.mjs,
// smtpgen.mjs) as separate processes (later the webhooks and inbound roles, with the webhook
// receiver hooksink.mjs and the DSN generator dsngen.mjs), runs the phases, prints a report whose last line is one JSON
// object, and removes everything it created, also on failure or Ctrl-C.
// Progress goes to stderr; the report goes to stdout.
import { fork, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFileSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { campaignsPhase } from './campaigns.mjs'
import { cleanupAll } from './cleanup.mjs'
import { dashboardPhase, runHikyaku } from './dashboard.mjs'
import { envFlag, envInt, envNumber, envSeconds, ipcClient, round, summarize } from './lib.mjs'
import { measureRules } from './rules.mjs'

const env = process.env
const ROOT = env.BENCH_ROOT
const STATE = env.BENCH_STATE_DIR
if (!ROOT || !STATE || !env.BENCH_PREFIX) {
  process.stderr.write('driver.mjs is started by scripts/bench.sh (npm run bench)\n')
  process.exit(2)
}
const HERE = join(ROOT, 'scripts', 'bench')
const CLK_TCK = Number(env.BENCH_CLK_TCK) || 100

const C = {
  db: env.BENCH_DB,
  adminUrl: env.BENCH_ADMIN_URL,
  dbUrl: env.BENCH_DATABASE_URL,
  redisUrl: env.BENCH_REDIS_URL,
  prefix: env.BENCH_PREFIX,
  warmupMs: envSeconds('BENCH_WARMUP_SECONDS', 2),
  acceptMs: envSeconds('BENCH_ACCEPT_SECONDS', 10),
  conns: envInt('BENCH_CONNECTIONS', 50, 1),
  bodyBytes: envInt('BENCH_BODY_BYTES', 2048, 1),
  drainAcceptMs: envSeconds('BENCH_DRAIN_SECONDS', 40),
  e2eRate: envInt('BENCH_E2E_RATE', 800, 1),
  e2eMs: envSeconds('BENCH_E2E_SECONDS', 20),
  e2eDrainMs: envSeconds('BENCH_E2E_DRAIN_SECONDS', 20),
  latRate: envInt('BENCH_LAT_RATE', 200, 1),
  latMs: envSeconds('BENCH_LAT_SECONDS', 10),
  latDrainMs: envSeconds('BENCH_LAT_DRAIN_SECONDS', 10),
  baselineN: envInt('BENCH_BASELINE_MESSAGES', 10_000, 1),
  baselineInflight: envInt('BENCH_BASELINE_INFLIGHT', 50, 1),
  baselineMaxMs: envSeconds('BENCH_BASELINE_MAX_SECONDS', 30),
  reqTimeoutMs: envSeconds('BENCH_REQUEST_TIMEOUT_SECONDS', 30),
  maxInflight: envInt('BENCH_MAX_INFLIGHT', 4000, 1),
  openSockets: envInt('BENCH_OPEN_MAX_SOCKETS', 256, 1),
  maxTotalMs: envSeconds('BENCH_MAX_TOTAL_SECONDS', 420),
  skipAccept: envFlag('BENCH_SKIP_ACCEPT'),
  skipLat: envFlag('BENCH_SKIP_LATENCY'),
  skipBaseline: envFlag('BENCH_SKIP_BASELINE'),
  skipOverload: envFlag('BENCH_SKIP_OVERLOAD'),
  skipSmtp: envFlag('BENCH_SKIP_SMTP'),
  skipMx: envFlag('BENCH_SKIP_MX'),
  skipWebhooks: envFlag('BENCH_SKIP_WEBHOOKS'),
  skipInbound: envFlag('BENCH_SKIP_INBOUND'),
  skipCampaigns: envFlag('BENCH_SKIP_CAMPAIGNS'),
  skipDashboard: envFlag('BENCH_SKIP_DASHBOARD'),
  webhookDrainMs: envSeconds('BENCH_WEBHOOK_DRAIN_SECONDS', 60),
  webhookVerifyEvery: envInt('BENCH_WEBHOOK_VERIFY_EVERY', 50, 1),
  webhookConcurrency: env.WEBHOOK_CONCURRENCY || '100',
  inboundMs: envSeconds('BENCH_INBOUND_SECONDS', 10),
  inboundConns: envInt('BENCH_INBOUND_CONNECTIONS', 10, 1),
  inboundInflight: envInt('BENCH_INBOUND_INFLIGHT', 50, 1),
  inboundTargets: envInt('BENCH_INBOUND_TARGETS', 30_000, 1),
  inboundTls: !envFlag('BENCH_INBOUND_NO_TLS'),
  // HIKYAKU_SECRET of every process of the run: the driver signs return paths with it for (i).
  secret: randomBytes(32).toString('base64url'),
  mxRate: envInt('BENCH_MX_RATE', 600, 1),
  mxMs: envSeconds('BENCH_MX_SECONDS', 15),
  mxDrainMs: envSeconds('BENCH_MX_DRAIN_SECONDS', 20),
  mxDomains: envInt('BENCH_MX_DOMAINS', 20, 1),
  mxFillMs: envSeconds('BENCH_MX_FILL_SECONDS', 4),
  mxShaping: env.BENCH_MX_SHAPING_CONFIG || '',
  smtpMs: envSeconds('BENCH_SMTP_SECONDS', 10),
  smtpConns: envInt('BENCH_SMTP_CONNECTIONS', 10, 1),
  smtpInflight: envInt('BENCH_SMTP_INFLIGHT', 50, 1),
  smtpCpuProf: envFlag('BENCH_SMTP_CPU_PROF'),
  inboundCpuProf: envFlag('BENCH_INBOUND_CPU_PROF'),
  admission: envInt('BENCH_ADMISSION_MAX_BACKLOG', 2000, 1),
  overloadConns: envInt('BENCH_OVERLOAD_CONNECTIONS', 50, 1),
  overloadWarmupMs: envSeconds('BENCH_OVERLOAD_WARMUP_SECONDS', 10),
  overloadMs: envSeconds('BENCH_OVERLOAD_SECONDS', 15),
  overloadDrainMs: envSeconds('BENCH_OVERLOAD_DRAIN_SECONDS', 20),
  retryCapMs: envSeconds('BENCH_RETRY_AFTER_CAP_SECONDS', 2),
  retryJitter: envNumber('BENCH_RETRY_JITTER', 0, 0),
  memMessages: envInt('BENCH_MEMORY_MESSAGES', 50_000, 0),
  memWarmMessages: envInt('BENCH_MEMORY_WARMUP_MESSAGES', 5_000, 0),
  memRate: envInt('BENCH_MEMORY_RATE', envInt('BENCH_E2E_RATE', 800, 1), 1),
  soloFillMs: envSeconds('BENCH_SOLO_FILL_SECONDS', 5),
  memMaxMs: envSeconds('BENCH_MEMORY_MAX_SECONDS', 60),
  workerConcurrency: env.WORKER_CONCURRENCY || '50',
  smtpPoolSize: env.SMTP_POOL_SIZE || '10',
  dbPoolSize: env.DB_POOL_SIZE || '10',
  logLevel: env.BENCH_LOG_LEVEL || 'warn',
  // What the API of phases (a), (b), (b2), (m), (o) runs with: the caller's setting or the app default.
  mainAdmission: env.ADMISSION_MAX_BACKLOG ? `ADMISSION_MAX_BACKLOG=${env.ADMISSION_MAX_BACKLOG}` : 'the default ADMISSION_MAX_BACKLOG',
}

const progress = (msg) => process.stderr.write(`[bench] ${msg}\n`)
const started = Date.now()
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`

// ------------------------------------------------------------------ abort (Ctrl-C, watchdog, crash)
const abort = new AbortController()
let abortedBy = null
const aborted = new Promise((_, reject) => {
  abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true })
})
aborted.catch(() => {})
function stop(reason, why) {
  if (abort.signal.aborted) return
  abortedBy = reason
  progress(`stopping: ${why}`)
  abort.abort(new Error(why))
}
process.on('SIGINT', () => stop('signal', 'interrupted (SIGINT)'))
process.on('SIGTERM', () => stop('signal', 'terminated (SIGTERM)'))
process.on('SIGHUP', () => stop('signal', 'hang-up (SIGHUP)'))
const watchdog = setTimeout(() => stop('watchdog', `BENCH_MAX_TOTAL_SECONDS (${C.maxTotalMs / 1000}s) reached`), C.maxTotalMs)
watchdog.unref()

/** Awaits a promise unless the run is being stopped. */
const guard = (p) => Promise.race([p, aborted])
const pause = (ms) => sleep(ms, undefined, { signal: abort.signal })

// ------------------------------------------------------------------ processes
const procs = {} // role → { child, exit?, stopping }

function recordPid(pid, role) {
  appendFileSync(join(STATE, 'pids'), `${pid} ${role}\n`)
}

/**
 * Tracks a child process. An unexpected exit of a critical one stops the run; of any other (the
 * SMTP phase's processes) it is recorded as a problem and the phase that needs it fails alone.
 */
function watch(role, child, { critical = true } = {}) {
  const p = { child, exit: null, stopping: false }
  procs[role] = p
  recordPid(child.pid, role)
  child.on('exit', (code, signal) => {
    p.exit = { code, signal }
    if (p.stopping || abort.signal.aborted) return
    const why = `${role} exited unexpectedly (code ${code}, signal ${signal})${logHint(role)}`
    if (critical) stop('crash', why)
    else {
      R.errors.push(why)
      progress(why)
    }
  })
  return p
}

function logHint(role) {
  const tail = logTail(role, 5)
  return tail ? `; last log lines:\n${tail}` : ''
}

function forkChild(role, file, opts) {
  const child = fork(join(HERE, file), [], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  watch(role, child, opts)
  return ipcClient(child, role)
}

function appEnv(extra = {}) {
  return {
    ...env,
    DATABASE_URL: C.dbUrl,
    REDIS_URL: C.redisUrl,
    BULLMQ_PREFIX: C.prefix,
    HOST: '127.0.0.1',
    WORKER_CONCURRENCY: C.workerConcurrency,
    SMTP_POOL_SIZE: C.smtpPoolSize,
    DB_POOL_SIZE: C.dbPoolSize,
    RATE_LIMIT_MAX: '1000000000',
    LOG_LEVEL: C.logLevel,
    HIKYAKU_ENV: 'development',
    HIKYAKU_VAR_DIR: join(STATE, 'var'),
    SHUTDOWN_TIMEOUT: '10s',
    HIKYAKU_SECRET: C.secret,
    // The webhook receiver of (w) and (bw) is on loopback: the api checks endpoint URLs against it,
    // the webhooks process every connection. Nothing else reads it.
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_CONCURRENCY: C.webhookConcurrency,
    // Relay mode unless a phase says otherwise ((x) runs its own api and worker in MX mode).
    DELIVERY_MODE: 'relay',
    // Several processes of a kind run at once: each takes a free port for its metrics listener.
    METRICS_PORT: '0',
    ...extra,
  }
}

/** Runs a one-shot CLI command; resolves with stdout, rejects with its output on failure. */
function runCli(args, timeoutMs, extraEnv) {
  return guard(
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'hikyaku.js'), ...args], {
        cwd: ROOT,
        env: appEnv(extraEnv),
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      recordPid(child.pid, `cli ${args[0]}`)
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => {
        out += d
      })
      child.stderr.on('data', (d) => {
        err += d
      })
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      const onAbort = () => child.kill('SIGTERM')
      abort.signal.addEventListener('abort', onAbort, { once: true })
      child.on('exit', (code, signal) => {
        clearTimeout(timer)
        abort.signal.removeEventListener('abort', onAbort)
        if (code === 0) resolve(out)
        else reject(new Error(`hikyaku ${args.join(' ')} failed (code ${code}, signal ${signal}): ${(err || out).trim().slice(-1500)}`))
      })
    }),
  )
}

/** `hikyaku <command>` as `role` (its log is <role>.log in the run directory). */
function startApp(role, command, port, sinkPort, extraEnv = {}, { critical = true, nodeArgs = [] } = {}) {
  const fd = openSync(join(STATE, `${role}.log`), 'a')
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin', 'hikyaku.js'), command], {
    cwd: ROOT,
    env: appEnv({ PORT: String(port), SMTP_RELAY_URL: `smtp://127.0.0.1:${sinkPort}`, ...extraEnv }),
    stdio: ['ignore', fd, fd],
  })
  closeSync(fd)
  return watch(role, child, { critical })
}

async function stopProcess(role, graceMs = 12_000) {
  const p = procs[role]
  if (!p || p.exit) return p?.exit ?? null
  p.stopping = true
  const t0 = Date.now()
  const exited = new Promise((resolve) => p.child.once('exit', () => resolve()))
  p.child.kill('SIGTERM')
  await Promise.race([exited, sleep(graceMs)])
  if (!p.exit) {
    progress(`${role} did not stop within ${graceMs} ms; killing it`)
    p.child.kill('SIGKILL')
    await Promise.race([exited, sleep(2_000)])
  }
  return { ...p.exit, ms: Date.now() - t0 }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function httpGet(url, timeoutMs = 2_000) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
  })
}

function logTail(role, lines) {
  try {
    const text = readFileSync(join(STATE, `${role}.log`), 'utf8').trim()
    return text ? text.split('\n').slice(-lines).join('\n') : ''
  } catch {
    return ''
  }
}

/** Counts pino lines by level and keeps a few distinct warn/error messages. */
function logSummary(role) {
  let text = ''
  try {
    text = readFileSync(join(STATE, `${role}.log`), 'utf8')
  } catch {
    return { lines: 0, warn: 0, error: 0, other: 0, samples: [] }
  }
  const s = { lines: 0, warn: 0, error: 0, other: 0, samples: [] }
  const seen = new Map()
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    s.lines++
    let level = 0
    let msg = line
    try {
      const o = JSON.parse(line)
      level = o.level
      msg = `${o.msg ?? ''}${o.err ? ` — ${typeof o.err === 'string' ? o.err : (o.err.message ?? JSON.stringify(o.err))}` : ''}`
    } catch {}
    if (level >= 50) s.error++
    else if (level === 40) s.warn++
    else if (level === 0) s.other++
    if (level >= 40 || level === 0) {
      const key = msg.slice(0, 160)
      seen.set(key, (seen.get(key) ?? 0) + 1)
    }
  }
  s.samples = [...seen.entries()].slice(0, 6).map(([m, n]) => `${n}× ${m}`)
  return s
}

// ------------------------------------------------------------------ /proc sampling
function procStat(pid) {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const close = raw.lastIndexOf(')')
    const comm = raw.slice(raw.indexOf('(') + 1, close)
    const f = raw.slice(close + 2).split(' ')
    // fields after ")": state(0) ... utime(11) stime(12)
    return { comm, ticks: Number(f[11]) + Number(f[12]) }
  } catch {
    return null
  }
}

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : null
  } catch {
    return null
  }
}

/**
 * A Postgres process's group: a backend of another database ("postgres: 15/main: user db
 * host(port) …" in its title) is someone else's load on a shared machine, "other postgres (db)";
 * the run's own backends and the server's background processes are "postgres". Cached by pid.
 */
const pgGroups = new Map()
function pgGroup(pid) {
  let g = pgGroups.get(pid)
  if (g) return g
  g = 'postgres'
  try {
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
    const m = /^postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])/.exec(title)
    if (m && m[1] !== C.db) g = `other postgres (${m[1]})`
  } catch {}
  pgGroups.set(pid, g)
  return g
}

/** Cores used by processes that are not this run's (other users of the machine), kernel threads excluded. */
function foreignCores(cpu) {
  if (!cpu) return null
  let n = 0
  for (const [g, v] of Object.entries(cpu.byGroup))
    if (g.startsWith('other ') && !/^other (kworker|ksoftirqd|kswapd|kcompactd|migration|rcu_|jbd2|kdamond)/.test(g)) n += v
  return n
}

/** Cores this run used (the machine's busy time less foreign processes and what exited unaccounted). */
function ownCores(cpu) {
  return cpu ? Math.max(0, cpu.machine - foreignCores(cpu) - (cpu.byGroup['exited/untracked'] ?? 0)) : null
}

/**
 * CPU-ms of this run's processes (app, Postgres, Redis, generators, sinks, kernel) per message of a
 * solo phase, fill and drain together: all the work a message causes, whatever else shares the
 * machine. Null without CPU samples or messages.
 */
function ownCpuMsPerMessage(o) {
  if (!o?.cpuFill || !o.cpuDrain || !o.accepted) return null
  return ((ownCores(o.cpuFill) * o.cpuFill.secs + ownCores(o.cpuDrain) * o.cpuDrain.secs) * 1000) / o.accepted
}

/** CPU ticks of every process (by pid, with its name) and of the machine. */
function cpuSample() {
  const pids = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const s = procStat(name)
    if (s) pids.set(Number(name), s)
  }
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = cpu[3] + cpu[4]
  return { at: Date.now(), pids, busy: total - idle, total, irq: cpu[5] + cpu[6] }
}

/**
 * Cores used between two samples, per group: our processes by role, Postgres and Redis by name,
 * anything else as "other <name>". A process that started in between counts whole; one that
 * exited in between is lost and lands in "exited/untracked" with any other unexplained time.
 */
function cpuDelta(a, b) {
  const secs = (b.at - a.at) / 1000
  const roles = new Map(Object.entries(procs).map(([role, p]) => [p.child.pid, role]))
  roles.set(process.pid, 'driver')
  const ticks = {}
  let tracked = 0
  for (const [pid, s] of b.pids) {
    const before = a.pids.get(pid)
    const d = before && before.comm === s.comm ? s.ticks - before.ticks : s.ticks
    if (d <= 0) continue
    const g = roles.get(pid) ?? (s.comm === 'postgres' ? pgGroup(pid) : s.comm.startsWith('redis-server') ? 'redis' : `other ${s.comm}`)
    ticks[g] = (ticks[g] ?? 0) + d
    tracked += d
  }
  const out = {}
  for (const [g, t] of Object.entries(ticks)) out[g] = t / CLK_TCK / secs
  const ncpu = (b.total - a.total) / CLK_TCK / secs
  const machine = (b.busy - a.busy) / CLK_TCK / secs
  // Interrupt and softirq time (loopback TCP is largely processed there) is not in any process.
  out['kernel-irq'] = (b.irq - a.irq) / CLK_TCK / secs
  out['exited/untracked'] = Math.max(0, machine - tracked / CLK_TCK / secs - out['kernel-irq'])
  return { secs, machine, ncpu, byGroup: out }
}

// ------------------------------------------------------------------ helpers over sink and load generator
async function waitFor(check, maxMs, everyMs = 200) {
  const t0 = Date.now()
  for (;;) {
    const v = await guard(check())
    if (v) return { ok: true, ms: Date.now() - t0 }
    if (Date.now() - t0 >= maxMs) return { ok: false, ms: Date.now() - t0 }
    await pause(everyMs)
  }
}

/**
 * Deliver-only rate from the sink's own timestamps: the arrivals after the load stopped, over the
 * time from that moment to the last of them (no polling granularity in it). Null when too few.
 */
function drainRate(arrivedAt, loadEndEpoch) {
  let n = 0
  let last = 0
  for (const t of arrivedAt) {
    if (t <= loadEndEpoch) continue
    n++
    if (t > last) last = t
  }
  const spanMs = n ? last - loadEndEpoch : 0
  return { n, spanMs, rate: n >= 200 && spanMs >= 500 ? (n / spanMs) * 1000 : null }
}

/** Joins the sink's arrivals with the load generator's 202 times for one phase. */
function joinPhase(dump, open) {
  const e2e = []
  const submit = []
  let inWindow = 0
  let lastArrival = 0
  let firstArrival = Infinity
  for (let k = 0; k < dump.seq.length; k++) {
    const seq = dump.seq[k]
    const at = dump.arrivedAt[k]
    if (at > lastArrival) lastArrival = at
    if (at < firstArrival) firstArrival = at
    if (at >= open.startEpoch && at <= open.endEpoch) inWindow++
    const acc = open.acceptedAt[seq]
    if (acc > 0) e2e.push(at - acc)
    if (dump.sentAt[k] > 0) submit.push(at - dump.sentAt[k])
  }
  const acceptedByEnd = open.acceptedAt.filter((t) => t > 0 && t <= open.endEpoch).length
  const receivedByEnd = dump.arrivedAt.filter((t) => t <= open.endEpoch).length
  return {
    received: dump.seq.length,
    inWindow,
    acceptedByEnd,
    receivedByEnd,
    backlogAtEnd: acceptedByEnd - receivedByEnd,
    firstArrival,
    lastArrival,
    e2e: summarize(e2e),
    submit: summarize(submit),
  }
}

/** Backlog (202s received − messages at the sink) at whole seconds of the window, from the timestamps. */
function backlogSeries(open, dump, durationMs) {
  const acc = Float64Array.from(open.acceptedAt.filter((t) => t > 0)).sort()
  const arr = Float64Array.from(dump.arrivedAt).sort()
  const out = []
  let i = 0
  let k = 0
  const step = durationMs > 20_000 ? Math.ceil(durationMs / 20_000) * 1000 : 1000
  for (let t = step; t <= durationMs; t += step) {
    const at = open.startEpoch + t
    while (i < acc.length && acc[i] <= at) i++
    while (k < arr.length && arr[k] <= at) k++
    out.push({ t: t / 1000, accepted: i, received: k, backlog: i - k })
  }
  return out
}

async function openPhase(phase, rate, durationMs, drainMs, sink, loadgen, label) {
  progress(`${elapsed()} phase ${phase}: ${label}: ${rate} req/s evenly spaced for ${durationMs / 1000}s`)
  const cpu0 = cpuSample()
  const run = loadgen.call('open', { phase, rate, durationMs, maxSockets: C.openSockets }, durationMs + C.reqTimeoutMs + 30_000)
  const res = await guard(run)
  const cpu1 = cpuSample()
  const accepted = res.total.ok202
  const waitMs = Math.max(0, drainMs)
  const drain = await waitFor(async () => ((await sink.call('counts')).byPhase[phase] ?? 0) >= accepted, waitMs, 100)
  const dump = await guard(sink.call('dump', { phase }, 60_000))
  const j = joinPhase(dump, res)
  const series = backlogSeries(res, dump, durationMs)
  const allArrived = j.received >= accepted
  const drainAfterWindowMs = allArrived ? Math.max(0, j.lastArrival - res.endEpoch) : null
  progress(
    `${elapsed()} phase ${phase}: accepted ${accepted}/${res.scheduled}, received ${j.received} (${j.inWindow} inside the window), backlog at window end ${j.backlogAtEnd}` +
      (allArrived
        ? `, drained ${round(drainAfterWindowMs)} ms after the window`
        : `, ${accepted - j.received} still missing after waiting ${drain.ms} ms`),
  )
  // Net growth over the second half of the window, and whether the system kept up: at the end no
  // more than a quarter second of traffic (or 50 messages) in the pipeline, and nothing lost.
  const mid = series[Math.floor((series.length - 1) / 2)]
  const last = series[series.length - 1]
  const growthPerS = last && mid && last.t > mid.t ? (last.backlog - mid.backlog) / (last.t - mid.t) : null
  const keptUp = allArrived && j.backlogAtEnd <= Math.max(50, rate / 4)
  return { res, j, series, cpu: cpuDelta(cpu0, cpu1), accepted, allArrived, drainAfterWindowMs, drainWaitMs: drain.ms, growthPerS, keptUp }
}

// ------------------------------------------------------------------ memory (RSS) over the run
// Every second from the smoke test until the worker stops: RSS of the api (the one of phases a, b,
// b2, m), the worker and the api of (d), with the messages each has handled so far (202s counted
// by the load generator; arrivals counted by the sink, i.e. what the worker delivered).
const mem = { samples: [], timer: null, busy: false }

async function memSample(sink, loadgen) {
  const [counts, stats] = await Promise.all([sink.call('counts', {}, 5_000), loadgen.call('stats', {}, 5_000)])
  let apiMsgs = 0
  for (const [phase, n] of Object.entries(stats.acceptedByPhase)) if (phase !== 'd') apiMsgs += n
  const rssOf = (role) => (procs[role] && !procs[role].exit ? rssMb(procs[role].child.pid) : null)
  const s = {
    at: Date.now(),
    api: rssOf('api'),
    worker: rssOf('worker'),
    apiD: rssOf('api-d'),
    apiMsgs,
    apiDMsgs: stats.acceptedByPhase.d ?? 0,
    delivered: counts.total - (counts.byPhase.c ?? 0),
  }
  mem.samples.push(s)
  return s
}

function startMemSampler(sink, loadgen, everyMs = 1_000) {
  mem.timer = setInterval(() => {
    if (mem.busy || abort.signal.aborted) return
    mem.busy = true
    memSample(sink, loadgen)
      .catch(() => {})
      .finally(() => {
        mem.busy = false
      })
  }, everyMs)
}

const stopMemSampler = () => clearInterval(mem.timer)

/**
 * RSS of one process from the first sample after `memWarmMessages` messages to its last sample:
 * growth, maximum, and the RSS at every 10,000 messages (to tell steady growth from a plateau).
 */
function rssTrend(key, countKey) {
  const xs = mem.samples.filter((s) => s[key] !== null)
  if (xs.length === 0) return null
  const end = xs[xs.length - 1]
  const warm = xs.find((s) => s[countKey] >= C.memWarmMessages)
  const at = (s) => ({ rss: s[key], messages: s[countKey], t: (s.at - started) / 1000 })
  if (!warm) return { warm: null, end: at(end), total: end[countKey] }
  const after = xs.filter((s) => s.at >= warm.at)
  const messages = end[countKey] - warm[countKey]
  const mid = after.find((s) => s[countKey] >= warm[countKey] + messages / 2) ?? end
  const checkpoints = []
  for (let k = 10_000; k <= end[countKey]; k += 10_000) {
    const s = xs.find((x) => x[countKey] >= k)
    if (s) checkpoints.push({ k, rss: s[key] })
  }
  return {
    warm: at(warm),
    mid: at(mid),
    end: at(end),
    max: Math.max(...after.map((s) => s[key])),
    messages,
    total: end[countKey],
    growthPct: ((end[key] - warm[key]) / warm[key]) * 100,
    secondHalfGrowthPct: ((end[key] - mid[key]) / mid[key]) * 100,
    checkpoints,
  }
}

/** Median RSS of one process over the samples in [from, to] (epoch ms), with the messages by then. */
function rssMedianIn(key, countKey, from, to) {
  const xs = mem.samples.filter((s) => s[key] !== null && s.at >= from && s.at <= to)
  if (xs.length < 3) return null
  return { rss: summarize(xs.map((s) => s[key])).p50, messages: xs[xs.length - 1][countKey], n: xs.length }
}

/** (b) and (m) offer the same rate: the median RSS in each, tens of thousands of messages apart. */
function rssLikeForLike(key, countKey) {
  if (!R.b || !R.m) return null
  const b = rssMedianIn(key, countKey, R.b.res.startEpoch, R.b.res.endEpoch)
  const m = rssMedianIn(key, countKey, R.m.res.startEpoch, R.m.res.endEpoch)
  if (!b || !m) return null
  return { b, m, pct: ((m.rss - b.rss) / b.rss) * 100 }
}

// ------------------------------------------------------------------ (o) solo rate next to (d)
/**
 * (o): a short closed-loop burst on the first api (no admission control in the way) leaves a
 * backlog; its drain with no incoming load is the deliver-only ("solo") rate (d) is compared with,
 * measured on the same database a few seconds before (d) (tables grow during the run, and without
 * autovacuum their statistics drift, so the drain after (a) may not be representative any more).
 * Delivery during the burst (after its first second) / solo is a second no-admission ratio.
 */
async function soloPhase(sink, loadgen, phase = 'o', fillMs = C.soloFillMs) {
  progress(
    `${elapsed()} phase ${phase}: solo rate: ${fillMs / 1000}s closed loop (${C.conns} connections) to leave a backlog, then its drain (at most ${C.drainAcceptMs / 1000}s)`,
  )
  const cpu0 = cpuSample()
  const res = await guard(
    loadgen.call('closed', { phase, conns: C.conns, warmupMs: 0, durationMs: fillMs }, fillMs + C.reqTimeoutMs + 30_000),
  )
  const cpu1 = cpuSample()
  const drain = await waitFor(async () => ((await sink.call('counts')).byPhase[phase] ?? 0) >= res.total.ok202, C.drainAcceptMs, 100)
  const cpu2 = cpuSample()
  const dump = await guard(sink.call('dump', { phase }, 60_000))
  const dr = drainRate(dump.arrivedAt, res.windowEndEpoch + res.tailMs)
  const from = res.windowStartEpoch + 1_000
  const to = res.windowEndEpoch
  const during = dump.arrivedAt.filter((t) => t >= from && t <= to).length
  // Messages of other phases delivered meanwhile (a backlog left by an earlier phase): they take
  // the worker's time, so the solo rate understates what it would be on an empty queue.
  const lastOwn = dump.arrivedAt.reduce((m, t) => Math.max(m, t), 0)
  const seen = lastOwn ? await guard(sink.call('between', { from: res.windowStartEpoch, to: lastOwn })) : { total: 0, byPhase: {} }
  const o = {
    phase,
    fillMs,
    res,
    drain,
    ...dr,
    accepted: res.total.ok202,
    received: dump.seq.length,
    missing: res.total.ok202 - dump.seq.length,
    duringRate: to - from >= 1_000 ? (during / (to - from)) * 1000 : null,
    otherArrivals: seen.total - (seen.byPhase[phase] ?? 0),
    cpuFill: cpuDelta(cpu0, cpu1),
    cpuDrain: cpuDelta(cpu1, cpu2),
  }
  progress(
    `${elapsed()} phase ${phase}: ${res.total.ok202} accepted (${round(res.acceptRps)}/s); ${dr.n} delivered after the load stopped in ${Math.round(dr.spanMs)} ms → solo ≈ ${f(dr.rate, ' msg/s')}` +
      (o.otherArrivals ? `; ${o.otherArrivals} messages of earlier phases were delivered meanwhile` : ''),
  )
  return o
}

/**
 * Waits (bounded) until the sink has every message accepted so far (HTTP phases as the load
 * generator counted them, and (s)), so that the next phase starts on an empty queue. Resolves
 * with what was still missing at the start and at the end.
 */
async function waitAllDelivered(sink, loadgen, maxMs) {
  const missingNow = async () => {
    const [{ acceptedByPhase }, counts] = await Promise.all([loadgen.call('stats'), sink.call('counts')])
    const wanted = { ...acceptedByPhase, ...(R.s ? { s: R.s.accepted } : {}) }
    let n = 0
    for (const [ph, k] of Object.entries(wanted)) n += Math.max(0, k - (counts.byPhase[ph] ?? 0))
    return n
  }
  const atStart = await guard(missingNow())
  if (atStart === 0) return { ok: true, ms: 0, atStart, missing: 0 }
  progress(`${elapsed()} ${atStart} accepted messages of earlier phases are still queued: waiting (at most ${maxMs / 1000}s)`)
  let missing = atStart
  const r = await waitFor(
    async () => {
      missing = await missingNow()
      return missing === 0
    },
    maxMs,
    250,
  )
  return { ...r, atStart, missing }
}

// ------------------------------------------------------------------ (d) overload
/** BullMQ's waiting/active/delayed counts for the delivery queue, sampled until stop() (the app's own figure). */
async function startBacklogSampler(everyMs = 250) {
  const { Queue } = await import('bullmq')
  const { Redis } = await import('ioredis')
  const conn = new Redis(C.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 2_000 })
  conn.on('error', () => {})
  // 'delivery' is DELIVERY_QUEUE in src/queue/delivery.queue.ts.
  const queue = new Queue('delivery', { connection: conn, prefix: C.prefix })
  queue.on('error', () => {})
  const samples = []
  let busy = false
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    queue
      .getJobCounts('waiting', 'active', 'delayed')
      .then((c) => samples.push({ at: Date.now(), waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0 }))
      .catch(() => {})
      .finally(() => {
        busy = false
      })
  }, everyMs)
  return {
    async stop() {
      clearInterval(timer)
      await Promise.race([queue.close(), sleep(2_000)]).catch(() => {})
      conn.disconnect()
      return samples
    },
  }
}

/**
 * (d): a second API process started with ADMISSION_MAX_BACKLOG = BENCH_ADMISSION_MAX_BACKLOG (the
 * first one has been stopped), offered far more than the system can deliver by SDK-like clients
 * that honour Retry-After, while the worker keeps delivering. Delivery at the sink inside the
 * window is compared with the deliver-only rate of the drain after (a).
 */
async function overloadPhase(sink, loadgen, sinkPort, key) {
  const port = await freePort()
  progress(`${elapsed()} phase d: starting a new api on :${port} with ADMISSION_MAX_BACKLOG=${C.admission}`)
  startApp('api-d', 'api', port, sinkPort, { ADMISSION_MAX_BACKLOG: String(C.admission) })
  const healthy = await waitFor(async () => (await httpGet(`http://127.0.0.1:${port}/healthz`)) === 200, 30_000)
  if (!healthy.ok) throw new Error(`(d): API not healthy after 30 s${logHint('api-d')}`)
  await guard(
    loadgen.call('init', {
      cfg: { url: `http://127.0.0.1:${port}`, key, bodyBytes: C.bodyBytes, timeoutMs: C.reqTimeoutMs, maxInflight: C.maxInflight },
    }),
  )
  progress(
    `${elapsed()} phase d: overload: closed loop, ${C.overloadConns} connections honouring Retry-After (≤ ${C.retryCapMs / 1000}s${C.retryJitter ? `, +${C.retryJitter * 100}% jitter` : ''}); ${C.overloadMs / 1000}s measured from the first 503 (or after ${C.overloadWarmupMs / 1000}s)`,
  )
  const sampler = await guard(startBacklogSampler())
  const cpu0 = cpuSample()
  let res
  let backlogSamples = []
  try {
    res = await guard(
      loadgen.call(
        'overload',
        {
          phase: 'd',
          conns: C.overloadConns,
          warmupMs: C.overloadWarmupMs,
          durationMs: C.overloadMs,
          retryCapMs: C.retryCapMs,
          jitter: C.retryJitter,
        },
        C.overloadWarmupMs + C.overloadMs + C.reqTimeoutMs + 30_000,
      ),
    )
  } finally {
    backlogSamples = await sampler.stop()
  }
  const cpu1 = cpuSample()
  const accepted = res.total.ok202
  const drain = await waitFor(async () => ((await sink.call('counts')).byPhase.d ?? 0) >= accepted, C.overloadDrainMs, 100)
  const inWindow = await guard(sink.call('between', { from: res.windowStartEpoch, to: res.windowEndEpoch }))
  const dump = await guard(sink.call('dump', { phase: 'd' }, 60_000))
  const received = dump.seq.length
  const inWin = backlogSamples.filter((b) => b.at >= res.windowStartEpoch && b.at <= res.windowEndEpoch)
  const waiting = summarize(inWin.map((b) => b.waiting))
  const idle = inWin.filter((b) => b.waiting === 0 && b.active === 0).length
  const d = {
    res,
    accepted,
    received,
    missing: accepted - received,
    drain,
    delivered: inWindow.total,
    deliveredByPhase: inWindow.byPhase,
    deliveredRate: (inWindow.total / C.overloadMs) * 1000,
    backlog: { n: inWin.length, waiting, idlePct: inWin.length ? (idle / inWin.length) * 100 : null },
    backlogSeries: backlogSamples,
    cpu: cpuDelta(cpu0, cpu1),
  }
  progress(
    `${elapsed()} phase d: ${round(res.acceptRps)} accepted/s, ${round(res.rejectRps)} 503/s, ${round(d.deliveredRate)} delivered/s; ` +
      (drain.ok ? `drained ${drain.ms} ms after the load stopped` : `${d.missing} still missing after ${drain.ms} ms`),
  )
  return d
}

// ------------------------------------------------------------------ (s) SMTP ingress
/** Resolves true once something on `port` greets with 220 (then says QUIT), false on anything else. */
function smtpGreets(port, timeoutMs = 2_000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port })
    let buf = ''
    const done = (ok) => {
      sock.removeAllListeners('data')
      if (ok) sock.end('QUIT\r\n')
      else sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(timeoutMs, () => done(false))
    sock.on('error', () => done(false))
    sock.on('data', (d) => {
      buf += d
      if (buf.includes('\n')) done(buf.startsWith('220'))
    })
  })
}

/** Established TCP connections whose local port is `port` (the server's side of each client). */
function establishedOn(port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  let n = 0
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const row of text.split('\n').slice(1)) {
      const f = row.trim().split(/\s+/)
      if (f.length > 3 && f[1].endsWith(hex) && f[3] === '01') n++
    }
  }
  return n
}

/** Prints a `summarizeCpuProfiles` summary (or that none was written) under a phase's block. */
function printProfile(line, role, flag, prof) {
  if (!prof) return line(`    CPU profile: none written (did ${role} exit cleanly?)`)
  line(
    `    CPU profile of the ${role} process (${flag}; its whole life, ${f(prof.busyMs / 1000, ' s')} busy): self time by package: ${prof.byPackage.map((x) => `${x.name} ${x.pct.toFixed(1)}%`).join(', ')}`,
  )
  line('      by function:')
  for (const x of prof.byFunction) line(`        ${x.pct.toFixed(1).padStart(5)}%  ${x.name}`)
}

/**
 * Self time by function and by package from the V8 CPU profile(s) in `dir` (BENCH_SMTP_CPU_PROF,
 * BENCH_INBOUND_CPU_PROF: the process writes one when it exits). Null when there is none.
 */
function summarizeCpuProfiles(dir) {
  let files = []
  try {
    files = readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))
  } catch {
    return null
  }
  if (files.length === 0) return null
  const byFn = new Map()
  const byPkg = new Map()
  let totalUs = 0
  const add = (m, k, us) => m.set(k, (m.get(k) ?? 0) + us)
  for (const file of files) {
    const prof = JSON.parse(readFileSync(join(dir, file), 'utf8'))
    const nodes = new Map(prof.nodes.map((n) => [n.id, n]))
    const selfUs = new Map()
    for (let i = 0; i < prof.samples.length; i++) add(selfUs, prof.samples[i], prof.timeDeltas[i] ?? 0)
    for (const [id, us] of selfUs) {
      const cf = nodes.get(id)?.callFrame
      if (!cf) continue
      totalUs += us
      const url = cf.url ?? ''
      const name = cf.functionName || '(anonymous)'
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1]
      const group = pkg
        ? pkg
        : url.startsWith('node:')
          ? 'node internals'
          : url.includes('/dist/')
            ? 'hikyaku (dist/)'
            : url
              ? url.split('/').slice(-2).join('/')
              : name === '(idle)' || name === '(program)' || name === '(garbage collector)'
                ? name
                : 'native/builtin'
      add(byPkg, group, us)
      const where = url ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${cf.lineNumber + 1}` : ''
      add(byFn, `${name}${where ? ` (${where})` : ''}`, us)
    }
  }
  const busyUs = totalUs - (byPkg.get('(idle)') ?? 0)
  const top = (m, n) =>
    [...m.entries()]
      .filter(([k]) => k !== '(idle)' && !k.startsWith('(idle)'))
      .sort((x, y) => y[1] - x[1])
      .slice(0, n)
      .map(([k, us]) => ({ name: k, ms: us / 1000, pct: busyUs ? (us / busyUs) * 100 : 0 }))
  return { files: files.length, busyMs: busyUs / 1000, byPackage: top(byPkg, 12), byFunction: top(byFn, 15) }
}

/**
 * Starts `hikyaku smtp` (STARTTLS and implicit TLS listeners on free ports; in development it makes
 * a self-signed certificate under the run's var dir). Not critical: if it does not come up, (s)
 * fails alone and the rest of the run goes on.
 */
async function startSmtp(sinkPort, apiPort) {
  const [smtpPort, smtpsPort] = [await freePort(), await freePort()]
  const nodeArgs = C.smtpCpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(STATE, 'prof')}`] : []
  startApp(
    'smtp',
    'smtp',
    apiPort,
    sinkPort,
    { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtpPort), SMTPS_PORT: String(smtpsPort) },
    { critical: false, nodeArgs },
  )
  return { smtpPort, smtpsPort }
}

/**
 * (s): messages/s accepted over SMTP submission (STARTTLS + AUTH PLAIN), closed loop, pooled
 * connections, the worker delivering meanwhile as in (a); then waits (bounded) until the sink has
 * everything it accepted, so that the next phase starts with an empty queue. Failures of (s) are
 * recorded as problems and the run goes on.
 */
async function smtpPhase(sink, key, smtpPort) {
  const warmupMs = C.warmupMs
  progress(
    `${elapsed()} phase s: SMTP ingress on :${smtpPort}: STARTTLS + AUTH PLAIN, ${C.smtpConns} pooled connections, ${C.smtpInflight} sendMail in flight, ${warmupMs / 1000}s warm-up + ${C.smtpMs / 1000}s measured (worker running)`,
  )
  const gen = forkChild('smtpgen', 'smtpgen.mjs', { critical: false })
  const rssBefore = rssMb(procs.smtp.child.pid)
  const conns = []
  const connTimer = setInterval(() => conns.push({ at: Date.now(), n: establishedOn(smtpPort) }), 500)
  const cpu0 = cpuSample()
  let res
  try {
    res = await guard(
      gen.call(
        'closed',
        {
          port: smtpPort,
          user: 'apikey',
          pass: key,
          conns: C.smtpConns,
          inflight: C.smtpInflight,
          warmupMs,
          durationMs: C.smtpMs,
          bodyBytes: C.bodyBytes,
          timeoutMs: C.reqTimeoutMs,
          phase: 's',
        },
        warmupMs + C.smtpMs + 2 * C.reqTimeoutMs + 30_000,
      ),
    )
  } finally {
    clearInterval(connTimer)
  }
  const cpu1 = cpuSample()
  const rssAfter = rssMb(procs.smtp.child.pid)
  await stopProcess('smtpgen', 3_000)
  const accepted = res.total.ok
  const receivedDuring = (await guard(sink.call('counts'))).byPhase.s ?? 0
  progress(
    `${elapsed()} phase s: ${round(res.acceptRps)} accepted/s over SMTP (${res.total.errorCount} errors); draining ${accepted - receivedDuring} queued messages (at most ${C.drainAcceptMs / 1000}s)`,
  )
  const drain = await waitFor(async () => ((await sink.call('counts')).byPhase.s ?? 0) >= accepted, C.drainAcceptMs, 250)
  const cpu2 = cpuSample()
  const dump = await guard(sink.call('dump', { phase: 's' }, 60_000))
  const inWin = conns.filter((c) => c.at >= res.windowStartEpoch && c.at <= res.windowEndEpoch).map((c) => c.n)
  const s = {
    res,
    accepted,
    received: dump.seq.length,
    missing: accepted - dump.seq.length,
    receivedDuring,
    deliveredInWindow: dump.arrivedAt.filter((t) => t >= res.windowStartEpoch && t <= res.windowEndEpoch).length,
    drain,
    deliverOnlyRate: drainRate(dump.arrivedAt, res.windowEndEpoch + res.tailMs).rate,
    connections: { max: inWin.length ? Math.max(...inWin) : null, p50: summarize(inWin).p50, samples: inWin.length },
    rssBefore,
    rssAfter,
    cpu: cpuDelta(cpu0, cpu1),
    cpuDrain: cpuDelta(cpu1, cpu2),
  }
  progress(`${elapsed()} phase s: drain ${drain.ok ? 'complete' : 'INCOMPLETE'} after ${drain.ms} ms`)
  return s
}

// ------------------------------------------------------------------ (x) MX mode
/**
 * The zone of (x): d<i>.bench.test has an MX record → mx.d<i>.bench.test, whose A record is
 * 127.0.0.<20+i>, where one of the sink's MX listeners answers (all on one port, MX_PORT).
 */
function mxZone(n) {
  if (n > 200) throw new Error(`BENCH_MX_DOMAINS must be at most 200 (got ${n})`)
  const zone = {}
  const domains = []
  const addresses = []
  for (let i = 1; i <= n; i++) {
    const domain = `d${i}.bench.test`
    const host = `mx.${domain}`
    const ip = `127.0.0.${20 + i}`
    zone[domain] = { MX: [{ priority: 10, exchange: host }] }
    zone[host] = { A: [ip] }
    domains.push(domain)
    addresses.push(ip)
  }
  return { zone, domains, addresses }
}

/** Calls per Redis command since the server started (INFO commandstats); null when unavailable. */
async function redisCommandCalls() {
  const { Redis } = await import('ioredis')
  const conn = new Redis(C.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 2_000 })
  conn.on('error', () => {})
  try {
    await conn.connect()
    const text = await conn.info('commandstats')
    const calls = {}
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2])
    return calls
  } catch {
    return null
  } finally {
    conn.disconnect()
  }
}

/** Redis commands per message between two INFO snapshots: total and the busiest few. */
function redisPerMessage(before, after, messages) {
  if (!before || !after || !messages) return null
  const diff = Object.entries(after)
    .map(([cmd, n]) => [cmd, n - (before[cmd] ?? 0)])
    .filter(([cmd, n]) => n > 0 && cmd !== 'info')
    .sort((x, y) => y[1] - x[1])
  const total = diff.reduce((a, [, n]) => a + n, 0)
  return { perMessage: total / messages, top: diff.slice(0, 8).map(([cmd, n]) => ({ cmd, perMessage: n / messages })) }
}

/** Per-address sink counts between two mxStats snapshots (opened connections and messages are counters). */
function mxSinkDelta(before, after) {
  const rows = Object.entries(after).map(([host, s]) => {
    const b = before?.[host] ?? { opened: 0, messages: 0 }
    return {
      host,
      opened: s.opened - b.opened,
      messages: s.messages - b.messages,
      maxOpen: s.maxOpen,
      maxPerConnection: s.maxPerConnection,
    }
  })
  const opened = rows.reduce((a, r) => a + r.opened, 0)
  const messages = rows.reduce((a, r) => a + r.messages, 0)
  const conns = summarize(rows.map((r) => r.opened))
  const msgs = summarize(rows.map((r) => r.messages))
  return {
    rows,
    opened,
    messages,
    perConnection: opened ? messages / opened : null,
    connsPerDomain: { min: rows.length ? Math.min(...rows.map((r) => r.opened)) : null, p50: conns.p50, max: conns.max },
    msgsPerDomain: { min: rows.length ? Math.min(...rows.map((r) => r.messages)) : null, max: msgs.max },
    maxOpenPerDomain: rows.length ? Math.max(...rows.map((r) => r.maxOpen)) : null,
    maxPerConnection: rows.length ? Math.max(...rows.map((r) => r.maxPerConnection)) : null,
  }
}

/** Statuses (with reasons) of the recipients of (x), the routes of their deliveries, their attempts. */
async function mxDbStatus() {
  const client = new pg.Client({ connectionString: C.dbUrl, connectionTimeoutMillis: 5_000 })
  const where = `r.address LIKE '%.bench.test'`
  try {
    await client.connect()
    const st = await client.query(
      `SELECT r.status::text AS status, coalesce(r.reason, '') AS reason, count(*)::int AS n FROM recipients r WHERE ${where} GROUP BY 1, 2 ORDER BY 3 DESC`,
    )
    const routes = await client.query(
      `SELECT (d.route = 'relay') AS relay, count(*)::int AS n FROM recipients r JOIN deliveries d ON d.id = r.delivery_id WHERE ${where} GROUP BY 1`,
    )
    const att = await client.query(
      `SELECT coalesce(a.outcome, '(none)') AS outcome, count(*)::int AS n, count(DISTINCT a.recipient_id)::int AS recipients, min(a.remote_host) AS sample_host
         FROM delivery_attempts a JOIN recipients r ON r.id = a.recipient_id WHERE ${where} GROUP BY 1 ORDER BY 2 DESC`,
    )
    const replies = await client.query(
      `SELECT r.status::text AS status, r.last_code AS code, left(coalesce(r.last_reply, ''), 160) AS reply, count(*)::int AS n
         FROM recipients r WHERE ${where} AND r.status <> 'delivered' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 5`,
    )
    const byStatus = {}
    for (const row of st.rows) byStatus[row.status] = (byStatus[row.status] ?? 0) + row.n
    const total = st.rows.reduce((a, row) => a + row.n, 0)
    return {
      total,
      byStatus,
      byStatusReason: st.rows,
      delivered: byStatus.delivered ?? 0,
      notDelivered: total - (byStatus.delivered ?? 0),
      relayRouted: routes.rows.find((row) => row.relay)?.n ?? 0,
      attempts: att.rows,
      notDeliveredSamples: replies.rows,
    }
  } catch (err) {
    return { error: err.message }
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * (x): MX mode. A loopback DNS server (dns.mjs) answers MX and A records for BENCH_MX_DOMAINS
 * recipient domains, each MX host on its own loopback address where the sink listens too; a new
 * api and worker run with DELIVERY_MODE=mx (the relay-mode worker has stopped, so no other process
 * takes these jobs). Open loop at BENCH_MX_RATE like (b), recipients round-robin over the domains;
 * then (xo), the deliver-only rate in MX mode: a closed-loop fill and its drain, like (o).
 */
async function mxPhase(sink, loadgen, key) {
  const { zone, domains, addresses } = mxZone(C.mxDomains)
  const dns = forkChild('dns', 'dns.mjs', { critical: false })
  const { port: dnsPort } = await guard(dns.call('listen', { zone }))
  const { port: mxPort } = await guard(sink.call('listenMx', { addresses }))
  const apiPort = await freePort()
  const mxEnv = {
    DELIVERY_MODE: 'mx',
    DNS_SERVERS: `127.0.0.1:${dnsPort}`,
    DNS_TIMEOUT: '2s',
    MX_PORT: String(mxPort),
    MX_ALLOW_PRIVATE: 'true',
    ...(C.mxShaping ? { SHAPING_CONFIG: C.mxShaping } : {}),
  }
  progress(
    `${elapsed()} phase x: DNS on 127.0.0.1:${dnsPort} (udp), ${domains.length} MX sinks on ${addresses[0]}–${addresses[addresses.length - 1]}:${mxPort}; starting api (MX mode) on :${apiPort} and worker`,
  )
  startApp('api-x', 'api', apiPort, R.sinkPort, mxEnv, { critical: false })
  startApp('worker-x', 'worker', apiPort, R.sinkPort, mxEnv, { critical: false })
  const healthy = await waitFor(async () => !!procs['api-x'].exit || (await httpGet(`http://127.0.0.1:${apiPort}/healthz`)) === 200, 30_000)
  if (!healthy.ok || procs['api-x'].exit) throw new Error(`API (MX mode) not healthy after 30 s${logHint('api-x')}`)
  await guard(
    loadgen.call('init', {
      cfg: {
        url: `http://127.0.0.1:${apiPort}`,
        key,
        bodyBytes: C.bodyBytes,
        timeoutMs: C.reqTimeoutMs,
        maxInflight: C.maxInflight,
        toDomains: domains,
      },
    }),
  )
  const smoke = await guard(loadgen.call('one', { phase: 'xsmoke' }, C.reqTimeoutMs + 5_000))
  if (smoke.status !== 202) throw new Error(`(x) smoke test: POST /v1/emails answered ${smoke.status || smoke.code}: ${smoke.body ?? ''}`)
  const smokeArrived = await waitFor(async () => ((await sink.call('counts')).byPhase.xsmoke ?? 0) >= 1, 30_000, 50)
  if (!smokeArrived.ok)
    throw new Error(`(x) smoke test: accepted but not at ${addresses[0]} within 30 s${logHint('worker-x')}${logHint('api-x')}`)
  progress(`${elapsed()} phase x: smoke test passed (at the MX sink ${smokeArrived.ms} ms after the 202)`)

  const x = { dnsPort, mxPort, domains: domains.length, smokeMs: smokeArrived.ms }
  // The api and worker are fresh (cold JIT, empty pools, no MX connection yet), unlike those of (b),
  // which (a) and (s) warmed: a short unmeasured warm-up at the same rate, drained before the window.
  if (C.warmupMs > 0) {
    progress(`${elapsed()} phase x: warm-up, ${C.mxRate} req/s for ${C.warmupMs / 1000}s (not measured)`)
    const w = await guard(
      loadgen.call(
        'open',
        { phase: 'xw', rate: C.mxRate, durationMs: C.warmupMs, maxSockets: C.openSockets },
        C.warmupMs + C.reqTimeoutMs + 30_000,
      ),
    )
    const wd = await waitFor(async () => ((await sink.call('counts')).byPhase.xw ?? 0) >= w.total.ok202, C.mxDrainMs, 100)
    const wj = joinPhase(await guard(sink.call('dump', { phase: 'xw' }, 60_000)), w)
    x.warmup = { accepted: w.total.ok202, drain: wd, backlogAtEnd: wj.backlogAtEnd, e2e: wj.e2e, missing: w.total.ok202 - wj.received }
    if (!wd.ok)
      R.errors.push(`(x) warm-up: ${x.warmup.missing} accepted messages had not reached the MX sinks within ${C.mxDrainMs / 1000}s`)
  }
  const stats0 = await guard(sink.call('mxStats'))
  // Everything delivered so far is in the database (the baseline (c) has not run yet).
  x.dbMessagesAtStart = (await guard(sink.call('counts'))).total
  const redis0 = await redisCommandCalls()
  const sampler = await guard(startBacklogSampler())
  try {
    x.open = await openPhase('x', C.mxRate, C.mxMs, C.mxDrainMs, sink, loadgen, `MX mode end-to-end over ${domains.length} domains`)
  } finally {
    x.queue = await sampler.stop()
  }
  const redis1 = await redisCommandCalls()
  const stats1 = await guard(sink.call('mxStats'))
  x.redis = redisPerMessage(redis0, redis1, x.open.accepted)
  x.conns = mxSinkDelta(stats0, stats1)
  const inWin = x.queue.filter((q) => q.at >= x.open.res.startEpoch && q.at <= x.open.res.endEpoch)
  x.delayed = summarize(inWin.map((q) => q.delayed))
  x.waiting = summarize(inWin.map((q) => q.waiting))
  if (C.mxFillMs > 0) {
    x.solo = await soloPhase(sink, loadgen, 'xo', C.mxFillMs)
    x.soloConns = mxSinkDelta(stats1, await guard(sink.call('mxStats')))
    if (!x.solo.drain.ok)
      R.errors.push(`(xo): ${x.solo.missing} accepted messages had not reached the MX sinks within ${C.drainAcceptMs / 1000}s`)
  }
  x.allConns = mxSinkDelta(stats0, await guard(sink.call('mxStats')))
  x.dns = await guard(dns.call('stats'))
  // After the measured windows, so that it takes no CPU from them.
  x.rules = await measureRules(ROOT).catch((err) => ({ error: String(err) }))
  progress(`${elapsed()} stopping api and worker (MX mode)`)
  ;[x.stopApi, x.stopWorker] = await Promise.all([stopProcess('api-x'), stopProcess('worker-x')])
  x.db = await mxDbStatus()
  x.expectedRecipients = 1 + (x.warmup?.accepted ?? 0) + x.open.accepted + (x.solo?.accepted ?? 0)
  await guard(dns.call('close', {}, 3_000)).catch(() => {})
  await stopProcess('dns', 3_000)
  return x
}

// ------------------------------------------------------------------ (w) and (bw) webhooks
/** One JSON request to the API; resolves {status, body} (body parsed when it is JSON), never rejects. */
function httpJson(method, url, key, payload, timeoutMs = 10_000) {
  return new Promise((resolve) => {
    const data = payload === undefined ? undefined : JSON.stringify(payload)
    const req = http.request(
      url,
      {
        method,
        agent: false,
        timeout: timeoutMs,
        headers: {
          authorization: `Bearer ${key}`,
          ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let body = text
          try {
            body = JSON.parse(text)
          } catch {}
          resolve({ status: res.statusCode, body })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', (err) => resolve({ status: 0, body: err.message }))
    req.end(data)
  })
}

/** Runs `fn` with a short-lived client on the bench database. */
async function withDb(fn) {
  const client = new pg.Client({ connectionString: C.dbUrl, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * Where webhook delivery stands: events past the fan-out cursor (not yet turned into deliveries),
 * deliveries not over yet (pending or sending), succeeded, failed.
 */
async function webhookBacklog() {
  return withDb(async (db) => {
    const feed = await db.query(
      `SELECT count(*)::int AS n FROM events ev JOIN webhook_cursors c ON c.account_id = ev.account_id
        WHERE (ev.txid, ev.id) > (c.txid::xid8, c.event_id)`,
    )
    const st = await db.query('SELECT status::text AS status, count(*)::int AS n FROM webhook_deliveries GROUP BY 1')
    const by = Object.fromEntries(st.rows.map((r) => [r.status, r.n]))
    return {
      unfanned: feed.rows[0].n,
      open: (by.pending ?? 0) + (by.sending ?? 0),
      succeeded: by.succeeded ?? 0,
      failed: by.failed ?? 0,
      byStatus: by,
    }
  })
}

/** Webhook deliveries and attempts in Postgres at the end: statuses, non-2xx answers, retries. */
async function webhookDbStatus() {
  return withDb(async (db) => {
    const d = await db.query('SELECT status::text AS status, count(*)::int AS n FROM webhook_deliveries GROUP BY 1 ORDER BY 2 DESC')
    const a = await db.query(
      `SELECT count(*)::int AS attempts, count(*) FILTER (WHERE status_code BETWEEN 200 AND 299)::int AS ok,
              count(DISTINCT delivery_id)::int AS attempted, max(number)::int AS max_number
         FROM webhook_attempts`,
    )
    const errs = await db.query(
      `SELECT coalesce(status_code::text, '') || ' ' || left(coalesce(error, ''), 120) AS what, count(*)::int AS n
         FROM webhook_attempts WHERE status_code IS NULL OR status_code NOT BETWEEN 200 AND 299 GROUP BY 1 ORDER BY 2 DESC LIMIT 3`,
    )
    const ep = await db.query('SELECT enabled, failing_since, disabled_reason FROM webhook_endpoints')
    return {
      deliveries: Object.fromEntries(d.rows.map((r) => [r.status, r.n])),
      ...a.rows[0],
      errorSamples: errs.rows,
      endpoints: ep.rows,
    }
  }).catch((err) => ({ error: err.message }))
}

/**
 * Before the backlog of (w) is produced: the receiver (hooksink.mjs, own process) and one endpoint
 * subscribed to every event (no filter) pointing at it, created through the API. No webhooks
 * process runs yet, so the events of the next phase ((o)) pile up in the feed after the cursor the
 * endpoint started.
 */
async function webhookSetup(apiPort, key) {
  const hooks = forkChild('hooksink', 'hooksink.mjs', { critical: false })
  const { port } = await guard(hooks.call('listen'))
  const url = `http://127.0.0.1:${port}/hikyaku`
  const res = await guard(httpJson('POST', `http://127.0.0.1:${apiPort}/v1/webhooks`, key, { url, description: 'bench' }))
  if (res.status !== 201 || typeof res.body?.secret !== 'string')
    throw new Error(`POST /v1/webhooks answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`)
  await guard(hooks.call('setSecret', { secret: res.body.secret, every: C.webhookVerifyEvery }))
  await guard(hooks.call('label', { name: 'w' }))
  progress(
    `${elapsed()} webhooks: receiver on 127.0.0.1:${port}, endpoint ${res.body.id} (every event type) created; no webhooks process yet`,
  )
  return { hooks, port, url, endpointId: res.body.id, eventTypes: res.body.event_types }
}

/** Deliveries/s from first-arrival times: n over first→last (null when too few), and over `fromEpoch`→last. */
function arrivalRate(at, fromEpoch) {
  if (at.length === 0) return { n: 0, rate: null, first: null, last: null, spanMs: 0, rateFromStart: null }
  let first = Number.POSITIVE_INFINITY
  let last = 0
  for (const t of at) {
    if (t < first) first = t
    if (t > last) last = t
  }
  const spanMs = last - first
  return {
    n: at.length,
    first,
    last,
    spanMs,
    rate: at.length >= 200 && spanMs >= 500 ? (at.length / spanMs) * 1000 : null,
    rateFromStart: fromEpoch && last > fromEpoch ? (at.length / (last - fromEpoch)) * 1000 : null,
  }
}

/** Waits (bounded) until every event is fanned out and every delivery is over; samples every 250 ms. */
async function waitWebhooksCaughtUp(maxMs) {
  let last = null
  const r = await waitFor(
    async () => {
      if (procs.webhooks?.exit) return true
      last = await webhookBacklog()
      return last.unfanned === 0 && last.open === 0
    },
    maxMs,
    250,
  )
  return { ...r, ok: r.ok && !procs.webhooks?.exit, last }
}

/**
 * (w): the drain of the backlog the reference solo phase left in the feed (every event of its
 * messages: email.queued and email.sent, real rows written by the real pipeline), by a webhooks
 * process started now with the api and worker idle: deliveries/s at the receiver from its first
 * to its last first-arrival. Then (bw): the solo phase again ((ow): closed-loop fill + drain) with
 * the webhooks process running and the endpoint subscribed to everything, against the solo rate
 * without it measured just before; then the wait until webhooks have caught up with (ow)'s events.
 */
async function webhooksPhase(W, sink, loadgen, ref, apiPort) {
  const w = { endpointId: W.endpointId, url: W.url, ref: ref.phase }
  const b0 = await webhookBacklog()
  w.backlog = b0.unfanned + b0.open
  w.backlogByStatus = b0
  progress(
    `${elapsed()} phase w: ${w.backlog} events of (${ref.phase}) in the feed for the endpoint; starting a webhooks process (WEBHOOK_CONCURRENCY=${C.webhookConcurrency}); drain bounded by ${C.webhookDrainMs / 1000}s`,
  )
  if (w.backlog < 200) R.notes.push(`(w): only ${w.backlog} events in the backlog: the rate is not meaningful`)
  const stats0 = await tableStats()
  const cpu0 = cpuSample()
  w.startedAt = Date.now()
  startApp('webhooks', 'webhooks', apiPort, R.sinkPort, {}, { critical: false })
  const drain = await waitFor(
    async () => !!procs.webhooks.exit || ((await W.hooks.call('counts')).byLabel.w?.distinct ?? 0) >= w.backlog,
    C.webhookDrainMs,
    100,
  )
  const cpu1 = cpuSample()
  w.scans = tableStatsDelta(stats0, await tableStats())
  if (procs.webhooks.exit) throw new Error(`the webhooks process exited (code ${procs.webhooks.exit.code})${logHint('webhooks')}`)
  const dump = await guard(W.hooks.call('dump', { name: 'w' }, 30_000))
  w.drain = drain
  w.received = dump.at.length
  w.missing = w.backlog - dump.at.length
  w.duplicates = dump.duplicates
  w.types = dump.types
  w.arrivals = arrivalRate(dump.at, w.startedAt)
  w.rate = w.arrivals.rate
  w.cpu = cpuDelta(cpu0, cpu1)
  w.rss = rssMb(procs.webhooks.child.pid)
  progress(
    `${elapsed()} phase w: ${w.received}/${w.backlog} delivered to the receiver (${dump.duplicates} repeats) ${drain.ok ? `in ${drain.ms} ms` : `— INCOMPLETE after ${drain.ms} ms`} → ${f(w.rate, ' webhooks/s')} (first→last), ${f(w.arrivals.rateFromStart, '/s')} from the process start`,
  )
  if (!drain.ok) R.errors.push(`(w): ${w.missing} of ${w.backlog} webhooks had not reached the receiver within ${C.webhookDrainMs / 1000}s`)
  const settled = await waitWebhooksCaughtUp(5_000)
  w.afterDrain = settled.last

  // (bw): the reference solo phase again, the webhooks process running.
  await guard(W.hooks.call('label', { name: 'ow' }))
  const ow = await soloPhase(sink, loadgen, 'ow', ref.fillMs)
  const caught = await waitWebhooksCaughtUp(C.webhookDrainMs)
  const owDump = await guard(W.hooks.call('dump', { name: 'ow' }, 30_000))
  const lags = summarize(owDump.lag.filter((x) => x >= 0))
  ow.webhooks = {
    received: owDump.at.length,
    duplicates: owDump.duplicates,
    types: owDump.types,
    caughtUp: caught.ok,
    caughtUpMs: caught.ok ? caught.ms : null,
    left: caught.last,
    lag: lags,
    // Webhooks delivered while the fill ran (after its first second), per second.
    duringRate: (() => {
      const from = ow.res.windowStartEpoch + 1_000
      const to = ow.res.windowEndEpoch
      return to - from >= 1_000 ? (owDump.at.filter((t) => t >= from && t <= to).length / (to - from)) * 1000 : null
    })(),
    ...arrivalRate(owDump.at, null),
  }
  w.ow = ow
  progress(
    `${elapsed()} phase bw: solo with webhooks ${f(ow.rate, ' msg/s')} vs ${f(ref.rate, ' msg/s')} without → ${ow.rate && ref.rate ? (ow.rate / ref.rate).toFixed(3) : '—'}; ${ow.webhooks.received} webhooks, ${caught.ok ? `caught up ${round(ow.webhooks.caughtUpMs)} ms after the mail drain` : 'NOT caught up'}`,
  )
  if (!ow.drain.ok) R.errors.push(`(bw): ${ow.missing} accepted messages had not reached the sink within ${C.drainAcceptMs / 1000}s`)
  w.comparable = !ref.otherArrivals && !ow.otherArrivals && ref.drain.ok && ow.drain.ok
  if (!w.comparable)
    R.notes.push(
      `(bw): the two drains are not like for like (messages of earlier phases delivered during (${ref.phase}): ${ref.otherArrivals}, during (ow): ${ow.otherArrivals}; drains complete: ${ref.drain.ok}, ${ow.drain.ok}): send_with_webhooks_ratio means little`,
    )
  if (!caught.ok)
    R.errors.push(
      `(bw): webhooks had not caught up ${C.webhookDrainMs / 1000}s after the mail drain (${caught.last?.unfanned ?? '?'} events not fanned out, ${caught.last?.open ?? '?'} deliveries open)`,
    )
  w.rssEnd = rssMb(procs.webhooks.child.pid)
  progress(`${elapsed()} stopping webhooks`)
  w.stop = await stopProcess('webhooks')
  w.receiver = await guard(W.hooks.call('counts'))
  w.db = await webhookDbStatus()
  return w
}

// ------------------------------------------------------------------ (i) inbound DSNs
/** Sequential and index scans per table of the bench database so far (pg_stat_user_tables); null on failure. */
async function tableStats() {
  return withDb(async (db) => {
    const { rows } = await db.query(
      `SELECT relname, seq_scan::float8 AS seq_scan, seq_tup_read::float8 AS seq_tup_read, coalesce(idx_scan, 0)::float8 AS idx_scan,
              n_live_tup::float8 AS live FROM pg_stat_user_tables`,
    )
    return Object.fromEntries(rows.map((r) => [r.relname, r]))
  }).catch(() => null)
}

/** Tables sequentially scanned between two snapshots, most rows read first. */
function tableStatsDelta(before, after) {
  if (!before || !after) return null
  return Object.values(after)
    .map((t) => {
      const b = before[t.relname] ?? { seq_scan: 0, seq_tup_read: 0, idx_scan: 0 }
      return {
        table: t.relname,
        seqScans: t.seq_scan - b.seq_scan,
        rowsRead: t.seq_tup_read - b.seq_tup_read,
        idxScans: t.idx_scan - b.idx_scan,
        live: t.live,
      }
    })
    .filter((t) => t.rowsRead > 0)
    .sort((x, y) => y.rowsRead - x.rowsRead)
}

/** The DSN written by a real Postfix that (i) sends, and the recipient it names (replaced per message). */
const DSN_FIXTURE = join(ROOT, 'test', 'fixtures', 'reports', 'postfix-5.1.1.eml')
const DSN_PLACEHOLDER_RECIPIENT = 'gone@example.net'

/**
 * (i): DSNs in. A `hikyaku inbound` process on a free loopback port; a generator (dsngen.mjs, own
 * process) submits the Postfix DSN, each time made to answer one real delivery of the earlier
 * relay-mode phases (a `sent` recipient at example.net: its signed return path as RCPT, computed
 * with HIKYAKU_SECRET, and its address), over pooled connections, closed loop. Afterwards: how many
 * of the recipients whose DSN was answered 250 are `bounced` in Postgres. Runs after every phase
 * that mails example.net through the app: the hard bounces suppress those addresses.
 */
async function inboundPhase() {
  const template = readFileSync(DSN_FIXTURE, 'latin1')
  if (!template.includes(DSN_PLACEHOLDER_RECIPIENT)) throw new Error(`${DSN_FIXTURE} no longer names ${DSN_PLACEHOLDER_RECIPIENT}`)
  const { returnPath } = await import(pathToFileURL(join(ROOT, 'dist', 'modules', 'feedback', 'verp.js')).href)
  const rows = await withDb(
    async (db) =>
      (
        await db.query(
          `SELECT delivery_id::text AS delivery_id, address FROM recipients
            WHERE status = 'sent' AND delivery_id IS NOT NULL AND address LIKE '%@example.net'
            ORDER BY delivery_id LIMIT $1`,
          [C.inboundTargets],
        )
      ).rows,
  )
  if (rows.length === 0) throw new Error('no sent recipient at example.net in the database to bounce')
  const targets = rows.map((r) => ({ verp: returnPath(C.secret, r.delivery_id, 'bounces.example.com'), address: r.address }))
  const port = await freePort()
  const stats0 = await tableStats()
  progress(
    `${elapsed()} phase i: starting inbound on :${port}; ${targets.length} sent deliveries to answer; ${C.inboundConns} pooled connections${C.inboundTls ? ' (STARTTLS)' : ''}, ${C.inboundInflight} in flight, ${C.warmupMs / 1000}s warm-up + ${C.inboundMs / 1000}s measured`,
  )
  const nodeArgs = C.inboundCpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(STATE, 'prof-inbound')}`] : []
  startApp('inbound', 'inbound', port, R.sinkPort, { INBOUND_HOST: '127.0.0.1', INBOUND_PORT: String(port) }, { critical: false, nodeArgs })
  const failed = () => !!procs.inbound.exit || /^hikyaku: /m.test(logTail('inbound', 200))
  const up = await waitFor(async () => failed() || (await smtpGreets(port)), 30_000, 200)
  if (failed() || !up.ok)
    throw new Error(`hikyaku inbound ${failed() ? 'failed to start' : `did not greet on :${port} within 30 s`}${logHint('inbound')}`)
  const gen = forkChild('dsngen', 'dsngen.mjs', { critical: false })
  const cpu0 = cpuSample()
  const res = await guard(
    gen.call(
      'closed',
      {
        port,
        template,
        placeholderRecipient: DSN_PLACEHOLDER_RECIPIENT,
        targets,
        conns: C.inboundConns,
        inflight: C.inboundInflight,
        warmupMs: C.warmupMs,
        durationMs: C.inboundMs,
        timeoutMs: C.reqTimeoutMs,
        tls: C.inboundTls,
      },
      C.warmupMs + C.inboundMs + 2 * C.reqTimeoutMs + 30_000,
    ),
  )
  const cpu1 = cpuSample()
  const rss = rssMb(procs.inbound.child.pid)
  await stopProcess('dsngen', 3_000)
  progress(`${elapsed()} stopping inbound`)
  const stop = await stopProcess('inbound')
  const profile = C.inboundCpuProf ? summarizeCpuProfiles(join(STATE, 'prof-inbound')) : null
  // Its backends have exited, so their table statistics are in.
  const scans = tableStatsDelta(stats0, await tableStats())
  const ids = res.acceptedIdx.map((k) => rows[k].delivery_id)
  const db = await withDb(async (c) => {
    const rec = await c.query(
      `SELECT status::text AS status, coalesce(reason, '') AS reason, count(*)::int AS n FROM recipients
        WHERE delivery_id = ANY($1::uuid[]) GROUP BY 1, 2 ORDER BY 3 DESC`,
      [ids],
    )
    const rep = await c.query(
      `SELECT kind::text AS kind, (recipient_id IS NOT NULL) AS matched, count(*)::int AS n FROM inbound_reports GROUP BY 1, 2 ORDER BY 3 DESC`,
    )
    const ev = await c.query(`SELECT count(*)::int AS n FROM events WHERE type = 'email.bounced'`)
    const sup = await c.query(`SELECT reason::text AS reason, count(*)::int AS n FROM suppressions GROUP BY 1`)
    const bounced = rec.rows.filter((r) => r.status === 'bounced').reduce((a, r) => a + r.n, 0)
    return {
      recipients: rec.rows,
      bounced,
      reports: rep.rows,
      reportsTotal: rep.rows.reduce((a, r) => a + r.n, 0),
      bouncedEvents: ev.rows[0].n,
      suppressions: Object.fromEntries(sup.rows.map((r) => [r.reason, r.n])),
    }
  }).catch((err) => ({ error: err.message }))
  const i = {
    scans,
    port,
    targets: targets.length,
    res,
    distinctAccepted: ids.length,
    db,
    rss,
    stop,
    cpu: cpuDelta(cpu0, cpu1),
    dsnBytes: res.meanBytes,
    profile,
  }
  delete res.acceptedIdx
  progress(
    `${elapsed()} phase i: ${round(res.acceptRps)} DSNs/s answered 250 (${res.total.errorCount} errors); ${db.error ? `database: ${db.error}` : `${db.bounced} of ${ids.length} answered deliveries' recipients bounced`}`,
  )
  return i
}

// ------------------------------------------------------------------ the run
const R = { errors: [], notes: [] }

async function main() {
  writeFileSync(join(STATE, 'pids'), '')
  mkdirSync(join(STATE, 'var'), { recursive: true })

  // Database: drop and recreate, then migrate; an account and its key through the CLI.
  progress(`${elapsed()} database ${C.db}: recreating`)
  const admin = new pg.Client({ connectionString: C.adminUrl, connectionTimeoutMillis: 5_000 })
  await guard(admin.connect())
  try {
    await guard(admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(C.db)} WITH (FORCE)`))
    await guard(admin.query(`CREATE DATABASE ${pg.escapeIdentifier(C.db)}`))
    // Without autovacuum, statistics never follow the tables' growth and plans go stale: the run
    // then measures the server's configuration more than Hikyaku.
    const { rows } = await guard(admin.query('SHOW autovacuum'))
    R.autovacuum = rows[0]?.autovacuum
    if (R.autovacuum !== 'on') R.notes.push('PostgreSQL runs with autovacuum=off: expect slower delivery than on a default server')
  } finally {
    await admin.end().catch(() => {})
  }
  await runCli(['migrate'], 120_000)
  const keyOut = await runCli(['accounts', 'create', 'bench'], 60_000)
  const key = /^hk_\S+$/m.exec(keyOut)?.[0]
  if (!key) throw new Error(`"accounts create" printed no key: ${keyOut.slice(0, 300)}`)

  // The sink, then API and worker pointed at it.
  const sink = forkChild('sink', 'sink.mjs')
  const { port: sinkPort } = await guard(sink.call('listen', {}))
  R.sinkPort = sinkPort
  const apiPort = await freePort()
  progress(`${elapsed()} sink on 127.0.0.1:${sinkPort}; starting api on :${apiPort} and worker (prefix ${C.prefix})`)
  startApp('api', 'api', apiPort, sinkPort)
  startApp('worker', 'worker', apiPort, sinkPort)
  // `hikyaku smtp` for (s) only: started now so that it comes up alongside the others, idle until
  // (s) (no connections, no CPU), stopped right after (s) has drained.
  const smtp = C.skipSmtp ? null : await startSmtp(sinkPort, apiPort)
  // A start-up error does not always end the process (open pools keep it alive): its CLI prints
  // "hikyaku: <error>"; that ends the wait as well.
  const smtpFailed = () => !!procs.smtp.exit || /^hikyaku: /m.test(logTail('smtp', 200))
  const smtpUp = smtp ? waitFor(async () => smtpFailed() || (await smtpGreets(smtp.smtpPort)), 30_000, 200) : null
  smtpUp?.catch(() => {}) // awaited after (a); only an abort rejects it
  const healthy = await waitFor(async () => (await httpGet(`http://127.0.0.1:${apiPort}/healthz`)) === 200, 30_000)
  if (!healthy.ok) throw new Error(`API not healthy after 30 s${logHint('api')}`)
  const ready = await httpGet(`http://127.0.0.1:${apiPort}/readyz`)
  if (ready !== 200) R.notes.push(`/readyz answered ${ready} before the run`)

  const loadgen = forkChild('loadgen', 'loadgen.mjs')
  const init = await guard(
    loadgen.call('init', {
      cfg: { url: `http://127.0.0.1:${apiPort}`, key, bodyBytes: C.bodyBytes, timeoutMs: C.reqTimeoutMs, maxInflight: C.maxInflight },
    }),
  )
  R.bodyBytes = init.bodyBytes

  // Smoke test: one message all the way through, so a broken pipeline fails fast and clearly.
  const smoke = await guard(loadgen.call('one', { phase: 'smoke' }, C.reqTimeoutMs + 5_000))
  if (smoke.status !== 202) throw new Error(`smoke test: POST /v1/emails answered ${smoke.status || smoke.code}: ${smoke.body ?? ''}`)
  const smokeArrived = await waitFor(async () => ((await sink.call('counts')).byPhase.smoke ?? 0) >= 1, 30_000, 50)
  if (!smokeArrived.ok) throw new Error(`smoke test: the message was accepted but did not reach the sink within 30 s${logHint('worker')}`)
  R.smokeMs = smokeArrived.ms
  progress(`${elapsed()} smoke test passed (accepted in ${round(smoke.ms)} ms, at the sink ${smokeArrived.ms} ms later)`)

  R.rssBefore = { api: rssMb(procs.api.child.pid), worker: rssMb(procs.worker.child.pid) }
  await guard(memSample(sink, loadgen))
  startMemSampler(sink, loadgen)

  // (a) accept rate, closed loop; the worker keeps running (the realistic system).
  if (!C.skipAccept) {
    progress(
      `${elapsed()} phase a: closed loop, ${C.conns} connections, ${C.warmupMs / 1000}s warm-up + ${C.acceptMs / 1000}s measured (worker running)`,
    )
    const cpu0 = cpuSample()
    const a = await guard(
      loadgen.call(
        'closed',
        { phase: 'a', conns: C.conns, warmupMs: C.warmupMs, durationMs: C.acceptMs },
        C.warmupMs + C.acceptMs + C.reqTimeoutMs + 30_000,
      ),
    )
    const cpu1 = cpuSample()
    const countsEnd = await guard(sink.call('counts'))
    const receivedDuring = countsEnd.byPhase.a ?? 0
    R.a = { ...a, cpu: cpuDelta(cpu0, cpu1), receivedDuring, deliveredInWindow: null, drain: null }
    progress(
      `${elapsed()} phase a: ${round(a.acceptRps)} accepted/s; draining ${a.total.ok202 - receivedDuring} queued messages (at most ${C.drainAcceptMs / 1000}s)`,
    )
    const drain = await waitFor(async () => ((await sink.call('counts')).byPhase.a ?? 0) >= a.total.ok202, C.drainAcceptMs, 250)
    const cpu2 = cpuSample()
    const countsDrained = await guard(sink.call('counts'))
    const receivedAfter = countsDrained.byPhase.a ?? 0
    const dumpA = await guard(sink.call('dump', { phase: 'a' }, 60_000))
    const deliveredInWindow = dumpA.arrivedAt.filter((t) => t >= a.windowStartEpoch && t <= a.windowEndEpoch).length
    R.a.deliveredInWindow = deliveredInWindow
    R.a.drain = {
      ok: drain.ok,
      ms: drain.ms,
      received: receivedAfter,
      missing: a.total.ok202 - receivedAfter,
      // Delivery with no incoming load: the worker alone working through the queue.
      deliverOnlyRate: drainRate(dumpA.arrivedAt, a.windowEndEpoch + a.tailMs).rate,
      cpu: cpuDelta(cpu1, cpu2),
    }
    if (!drain.ok) {
      R.errors.push(
        `after (a), ${a.total.ok202 - receivedAfter} accepted messages had not reached the sink within ${C.drainAcceptMs / 1000}s; (b) starts with that backlog`,
      )
    }
    progress(`${elapsed()} phase a: drain ${drain.ok ? 'complete' : 'INCOMPLETE'} after ${drain.ms} ms`)
  }

  // (s) SMTP ingress, next to (a) and like it (worker running), drained before (b).
  if (smtp) {
    try {
      const up = await guard(smtpUp)
      if (smtpFailed() || !up.ok)
        throw new Error(
          `hikyaku smtp ${smtpFailed() ? 'failed to start' : `did not greet on :${smtp.smtpPort} within 30 s`}${logHint('smtp')}`,
        )
      R.s = await smtpPhase(sink, key, smtp.smtpPort)
      if (!R.s.drain.ok)
        R.errors.push(
          `after (s), ${R.s.missing} accepted messages had not reached the sink within ${C.drainAcceptMs / 1000}s; (b) starts with that backlog`,
        )
      if (R.s.res.total.errorCount > 0)
        R.errors.push(`(s): ${R.s.res.total.errorCount} SMTP submissions were not answered 250 (${fmtCounts(R.s.res.total.errors)})`)
    } catch (err) {
      if (abort.signal.aborted) throw err
      R.errors.push(`(s) failed: ${err instanceof Error ? err.message : String(err)}`)
      progress(`(s) failed: ${err instanceof Error ? err.message : String(err)}`)
      await stopProcess('smtpgen', 3_000)
    }
    progress(`${elapsed()} stopping smtp`)
    R.stopSmtp = await stopProcess('smtp')
    if (C.smtpCpuProf) R.smtpProfile = summarizeCpuProfiles(join(STATE, 'prof'))
  }

  // (b) sustained end-to-end at a fixed offered rate.
  const redisB0 = C.skipMx ? null : await redisCommandCalls()
  const dbMessagesAtB = (await guard(sink.call('counts'))).total
  R.b = await openPhase('b', C.e2eRate, C.e2eMs, C.e2eDrainMs, sink, loadgen, 'sustained end-to-end')
  // Redis commands per message in relay mode, next to (x)'s.
  if (!C.skipMx) R.b.redis = redisPerMessage(redisB0, await redisCommandCalls(), R.b.accepted)
  R.b.dbMessagesAtStart = dbMessagesAtB
  if (!R.b.allArrived)
    R.errors.push(
      `(b): ${R.b.accepted - R.b.j.received} accepted messages never reached the sink within ${C.e2eDrainMs / 1000}s after the window`,
    )

  // (b2) latency at a lower rate.
  if (!C.skipLat) {
    R.l = await openPhase('l', C.latRate, C.latMs, C.latDrainMs, sink, loadgen, 'latency')
    if (!R.l.allArrived)
      R.errors.push(`(latency run): ${R.l.accepted - R.l.j.received} accepted messages missing ${C.latDrainMs / 1000}s after the window`)
  }

  // (m) memory top-up: enough more messages at a rate the system sustains that the api has handled
  // BENCH_MEMORY_MESSAGES after its RSS reference point (first sample past the warm-up messages).
  if (C.memMessages > 0) {
    const now = await guard(memSample(sink, loadgen))
    const ref = mem.samples.find((x) => x.apiMsgs >= C.memWarmMessages)?.apiMsgs ?? C.memWarmMessages
    const need = ref + C.memMessages - now.apiMsgs
    if (need > 0) {
      const wantMs = (Math.ceil(need / C.memRate) + 1) * 1000
      const ms = Math.min(wantMs, C.memMaxMs)
      if (ms < wantMs) R.notes.push(`memory top-up capped by BENCH_MEMORY_MAX_SECONDS at ${ms / 1000}s (wanted ${wantMs / 1000}s)`)
      R.m = await openPhase('m', C.memRate, ms, C.e2eDrainMs, sink, loadgen, `memory top-up (${need} more messages)`)
      if (!R.m.allArrived)
        R.errors.push(`(m): ${R.m.accepted - R.m.j.received} accepted messages never reached the sink within ${C.e2eDrainMs / 1000}s`)
    }
  }

  // (k) campaigns: batch accept, then transactional latency while the broadcast lane works
  // through that backlog; it waits (bounded) for its broadcast messages before returning.
  if (!C.skipCampaigns) {
    try {
      const cpu0 = cpuSample()
      const signalWorker = (signal) => procs.worker && !procs.worker.exit && procs.worker.child.kill(signal)
      R.k = await guard(
        campaignsPhase({
          apiPort,
          key,
          sink,
          progress: (m) => progress(`${elapsed()} ${m}`),
          bodyBytes: R.bodyBytes,
          pauseDelivery: () => signalWorker('SIGSTOP'),
          resumeDelivery: () => signalWorker('SIGCONT'),
        }),
      )
      R.k.cpu = cpuDelta(cpu0, cpuSample())
      if (R.k.missing > 0)
        R.errors.push(`(k): ${R.k.missing} accepted broadcast messages had not reached the sink after ${R.k.drainMs / 1000}s`)
      if (R.k.failedRequests > 0 || R.k.refused > 0)
        R.errors.push(`(k): ${R.k.failedRequests} batch requests failed, ${R.k.refused} items refused`)
    } catch (err) {
      if (abort.signal.aborted) throw err
      R.errors.push(`(k) failed: ${err instanceof Error ? err.message : String(err)}`)
      progress(`(k) failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  // (o) and (bw) time drains: they start on an empty queue, whatever earlier phases left behind.
  if ((!C.skipOverload && C.soloFillMs > 0) || !C.skipWebhooks) {
    R.preSolo = await waitAllDelivered(sink, loadgen, C.drainAcceptMs)
    if (R.preSolo.atStart > 0)
      (R.preSolo.ok ? R.notes : R.errors).push(
        `before (o): ${R.preSolo.atStart} accepted messages of earlier phases were still queued; ${R.preSolo.ok ? `delivered after waiting ${f(R.preSolo.ms / 1000, ' s')}` : `${R.preSolo.missing} still were after ${C.drainAcceptMs / 1000}s, so (o) drains them too`}`,
      )
  }

  // (w) and (bw): the receiver and an endpoint first, so that the events of the next solo phase
  // ((o), or (wo) of its own when (o) is skipped) are the backlog (w) drains.
  let W = null
  if (!C.skipWebhooks) {
    try {
      W = await webhookSetup(apiPort, key)
    } catch (err) {
      if (abort.signal.aborted) throw err
      R.errors.push(`(w)/(bw) failed: ${err instanceof Error ? err.message : String(err)}`)
      progress(`(w)/(bw) failed: ${err instanceof Error ? err.message : String(err)}`)
      await stopProcess('hooksink', 3_000)
    }
  }

  // (o) the solo rate (d) is compared with, just before it.
  if (!C.skipOverload && C.soloFillMs > 0) {
    R.o = await soloPhase(sink, loadgen)
    if (!R.o.drain.ok)
      R.errors.push(
        `(o): ${R.o.missing} accepted messages had not reached the sink within ${C.drainAcceptMs / 1000}s; (d) starts with that backlog`,
      )
  }

  // (w) webhook deliveries/s draining the backlog of (o); (bw) the solo phase again with the
  // webhooks process running. A failure is reported as a problem and the run goes on.
  if (W) {
    try {
      const ref = R.o ?? (await soloPhase(sink, loadgen, 'wo', C.soloFillMs || 5_000))
      R.w = await webhooksPhase(W, sink, loadgen, ref, apiPort)
      R.w.refSolo = ref
    } catch (err) {
      if (abort.signal.aborted) throw err
      R.errors.push(`(w)/(bw) failed: ${err instanceof Error ? err.message : String(err)}`)
      progress(`(w)/(bw) failed: ${err instanceof Error ? err.message : String(err)}`)
      await stopProcess('webhooks')
    }
    await guard(W.hooks.call('close', {}, 3_000)).catch(() => {})
    await stopProcess('hooksink', 3_000)
  }

  // The last look at the first api, which goes away now ((d) runs on a fresh one).
  await guard(memSample(sink, loadgen))
  R.rssAfter = { api: rssMb(procs.api.child.pid), worker: rssMb(procs.worker.child.pid) }
  R.sinkCounts = await guard(sink.call('counts'))
  progress(`${elapsed()} stopping api`)
  R.stopApi = await stopProcess('api')

  // (d) overload with admission control.
  if (!C.skipOverload) {
    R.d = await overloadPhase(sink, loadgen, sinkPort, key)
    if (!R.d.drain.ok)
      R.errors.push(
        `(d): ${R.d.missing} accepted messages never reached the sink within ${C.overloadDrainMs / 1000}s after the load stopped`,
      )
    if (R.d.res.firstRejectMs === null) R.notes.push('(d): no 503 at all: the offered load never pushed the backlog past the threshold')
    else if (R.d.res.firstRejectMs > C.overloadWarmupMs)
      R.notes.push(
        `(d): the first 503 came ${round(R.d.res.firstRejectMs / 1000)} s in, after the longest warm-up (BENCH_OVERLOAD_WARMUP_SECONDS)`,
      )
    // The queue runs dry when every client waits out the same Retry-After while the worker needs
    // less than that to clear the threshold's worth of messages: then delivery loses to idling.
    const commonRetryAfter = Number(Object.entries(R.d.res.retryAfter).sort((x, y) => y[1] - x[1])[0]?.[0])
    const waitS = Math.min(C.retryCapMs / 1000, Number.isFinite(commonRetryAfter) ? commonRetryAfter : Number.POSITIVE_INFINITY)
    const soloNow = R.o?.rate ?? R.a?.drain?.deliverOnlyRate
    if (R.d.backlog.idlePct >= 5 && soloNow && Number.isFinite(waitS))
      R.notes.push(
        `(d): the worker had nothing to do in ${round(R.d.backlog.idlePct)}% of the samples: ADMISSION_MAX_BACKLOG ${C.admission} is less than solo × Retry-After ≈ ${Math.round(soloNow * waitS)} messages, so the queue empties while the refused clients wait`,
      )
    if (R.d.res.total.ok202 > 0 && R.d.backlogSeries.every((b) => b.waiting === 0 && b.active === 0))
      R.notes.push('(d): the BullMQ queue "delivery" looked empty throughout: queue renamed? (backlog figures are meaningless)')
  }

  await guard(memSample(sink, loadgen))
  stopMemSampler()
  R.dbStatus = await dbStatus()

  // The app goes away before the baseline so it cannot take CPU from it.
  progress(`${elapsed()} stopping ${procs['api-d'] ? 'api (d) and ' : ''}worker`)
  if (procs['api-d']) R.stopApiD = await stopProcess('api-d')
  R.stopWorker = await stopProcess('worker')

  // (x) MX mode, on an api and a worker of its own (after the relay-mode worker has stopped, so
  // no process without the loopback DNS server takes its jobs). A failure of (x) is reported as a
  // problem and the baseline still runs.
  if (!C.skipMx) {
    try {
      R.x = await mxPhase(sink, loadgen, key)
      const x = R.x
      if (!x.open.allArrived)
        R.errors.push(
          `(x): ${x.open.accepted - x.open.j.received} accepted messages never reached the MX sinks within ${C.mxDrainMs / 1000}s after the window`,
        )
      if (x.db.error) R.errors.push(`(x): could not read the recipients' statuses: ${x.db.error}`)
      else {
        if (x.db.notDelivered > 0)
          R.errors.push(
            `(x): ${x.db.notDelivered} of ${x.db.total} recipients at *.bench.test are not 'delivered' (${fmtCounts(x.db.byStatus)})`,
          )
        if (x.db.total !== x.expectedRecipients)
          R.errors.push(`(x): ${x.db.total} recipients at *.bench.test in Postgres, ${x.expectedRecipients} accepted`)
        if (x.db.relayRouted > 0) R.errors.push(`(x): ${x.db.relayRouted} recipients at *.bench.test were routed to the relay`)
      }
    } catch (err) {
      if (abort.signal.aborted) throw err
      R.errors.push(`(x) failed: ${err instanceof Error ? err.message : String(err)}`)
      progress(`(x) failed: ${err instanceof Error ? err.message : String(err)}`)
      await Promise.all(['api-x', 'worker-x', 'dns'].map((r) => stopProcess(r, r === 'dns' ? 3_000 : 12_000)))
    }
  }

  // (i) DSNs in, after every phase that mails example.net through the app (the hard bounces
  // suppress those addresses) and with the relay-mode api and worker gone. A failure is reported
  // as a problem and the baseline still runs.
  if (!C.skipInbound) {
    try {
      R.i = await inboundPhase()
      const i = R.i
      if (i.res.total.errorCount > 0)
        R.errors.push(`(i): ${i.res.total.errorCount} DSNs were not answered 250 (${fmtCounts(i.res.total.errors)})`)
      if (i.db.error) R.errors.push(`(i): could not read the recipients' statuses: ${i.db.error}`)
      else if (i.db.bounced !== i.distinctAccepted)
        R.errors.push(
          `(i): ${i.distinctAccepted} deliveries' DSNs were answered 250, but ${i.db.bounced} of their recipients are 'bounced'`,
        )
      if (i.res.wrapped) R.notes.push(`(i): the ${i.targets} targets ran out and were used again (BENCH_INBOUND_TARGETS)`)
    } catch (err) {
      if (abort.signal.aborted) throw err
      R.errors.push(`(i) failed: ${err instanceof Error ? err.message : String(err)}`)
      progress(`(i) failed: ${err instanceof Error ? err.message : String(err)}`)
      await Promise.all([stopProcess('dsngen', 3_000), stopProcess('inbound')])
    }
  }

  // (p) dashboard page loads on a database of BENCH_DASH_EMAILS emails (its own api process).
  if (!C.skipDashboard) {
    try {
      progress(`${elapsed()} phase p: dashboard page loads on a large database`)
      R.p = await guard(
        dashboardPhase({
          adminUrl: C.adminUrl,
          databaseUrl: C.dbUrl,
          progress: (m) => progress(`${elapsed()} ${m}`),
          hikyaku: runHikyaku(ROOT, appEnv()),
          startApi: async (databaseUrl) => {
            const port = await freePort()
            startApp('api-p', 'api', port, R.sinkPort, { DATABASE_URL: databaseUrl, BULLMQ_PREFIX: `${C.prefix}-p` }, { critical: false })
            const healthy = await waitFor(
              async () => !!procs['api-p'].exit || (await httpGet(`http://127.0.0.1:${port}/healthz`)) === 200,
              30_000,
            )
            if (!healthy || procs['api-p'].exit) throw new Error('the api of (p) did not start')
            return { port, stop: () => stopProcess('api-p') }
          },
        }),
      )
    } catch (err) {
      if (abort.signal.aborted) throw err
      R.errors.push(`(p) failed: ${err instanceof Error ? err.message : String(err)}`)
      progress(`(p) failed: ${err instanceof Error ? err.message : String(err)}`)
      await stopProcess('api-p')
    }
  }

  // (c) baseline: nodemailer pooled transport straight to the same sink.
  if (!C.skipBaseline) {
    progress(`${elapsed()} phase c: nodemailer pool (10 connections) → sink, ${C.baselineN} messages, ${C.baselineInflight} in flight`)
    const baseline = forkChild('baseline', 'baseline.mjs')
    const cpu0 = cpuSample()
    const c = await guard(
      baseline.call(
        'run',
        {
          port: sinkPort,
          messages: C.baselineN,
          inflight: C.baselineInflight,
          maxMs: C.baselineMaxMs,
          bodyBytes: C.bodyBytes,
          warmup: 200,
          phase: 'c',
        },
        2 * C.baselineMaxMs + 30_000,
      ),
    )
    const cpu1 = cpuSample()
    const counts = await guard(sink.call('counts'))
    R.c = { ...c, sinkReceived: counts.byPhase.c ?? 0, cpu: cpuDelta(cpu0, cpu1) }
    if (c.timedOut) R.errors.push(`baseline stopped by BENCH_BASELINE_MAX_SECONDS after ${c.attempted} of ${c.requested} messages`)
    if (R.c.sinkReceived !== c.ok) R.notes.push(`baseline: nodemailer reported ${c.ok} sent, the sink counted ${R.c.sinkReceived}`)
    progress(`${elapsed()} phase c: ${round(c.msgsPerS)} msg/s`)
  }
  R.sinkCountsFinal = await guard(sink.call('counts'))
}

async function dbStatus() {
  const client = new pg.Client({ connectionString: C.dbUrl, connectionTimeoutMillis: 5_000 })
  try {
    await client.connect()
    const rec = await client.query('SELECT status::text AS status, count(*)::int AS n FROM recipients GROUP BY 1 ORDER BY 2 DESC')
    const att = await client.query('SELECT count(*)::int AS n FROM delivery_attempts')
    return { recipients: Object.fromEntries(rec.rows.map((r) => [r.status, r.n])), attempts: att.rows[0].n }
  } catch (err) {
    return { error: err.message }
  } finally {
    await client.end().catch(() => {})
  }
}

/** The app's processes whose logs the report summarises. */
const LOGGED_ROLES = ['api', 'api-d', 'smtp', 'webhooks', 'worker', 'api-x', 'worker-x', 'inbound']

async function teardown() {
  clearTimeout(watchdog)
  stopMemSampler()
  const order = [
    'loadgen',
    'smtpgen',
    'dsngen',
    'baseline',
    'api',
    'api-d',
    'api-x',
    'smtp',
    'webhooks',
    'inbound',
    'worker',
    'worker-x',
    'dns',
    'hooksink',
    'sink',
  ]
  const app = new Set(['api', 'api-d', 'api-x', 'smtp', 'webhooks', 'inbound', 'worker', 'worker-x'])
  await Promise.all(order.filter((r) => procs[r] && !procs[r].exit).map((r) => stopProcess(r, app.has(r) ? 12_000 : 3_000)))
  R.logs = Object.fromEntries(LOGGED_ROLES.map((r) => [r, logSummary(r)]))
  const cleaned = await cleanupAll({ stateDir: STATE, root: ROOT, adminUrl: C.adminUrl, db: C.db, redisUrl: C.redisUrl, prefix: C.prefix })
  R.cleanup = cleaned
  progress(
    `${elapsed()} cleaned up: database ${C.db} ${cleaned.dropped ? 'dropped' : 'not found'}, ${cleaned.deleted} Redis keys under ${C.prefix}: deleted` +
      (cleaned.problems.length ? `; PROBLEMS: ${cleaned.problems.join('; ')}` : ''),
  )
}

// ------------------------------------------------------------------ report
const f = (v, unit = '') => (v === null || v === undefined ? '—' : `${round(v)}${unit}`)
const fmtCounts = (o) =>
  Object.entries(o ?? {})
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ') || 'none'
function fmtCpu(cpu, perMsgRate) {
  if (!cpu) return ''
  const parts = Object.entries(cpu.byGroup)
    .filter(([, v]) => v >= 0.01)
    .sort((x, y) => y[1] - x[1])
    .map(([g, v]) => `${g} ${v.toFixed(2)}`)
  const perMsg = perMsgRate ? `, ${((cpu.machine * 1000) / perMsgRate).toFixed(2)} CPU-ms per message (whole box)` : ''
  return `    CPU (cores of ${Math.round(cpu.ncpu)}): machine ${cpu.machine.toFixed(2)} = ${parts.join(', ')}${perMsg}`
}

function report() {
  const out = []
  const line = (s = '') => out.push(s)
  const a = R.a
  const b = R.b
  const l = R.l
  const c = R.c
  const m = R.m
  const d = R.d
  const e2eRate = b ? b.j.inWindow / (C.e2eMs / 1000) : null
  const ratio = e2eRate !== null && c?.msgsPerS ? e2eRate / c.msgsPerS : null
  // Solo = deliver-only: a drain with no incoming load. (d) is compared with the one of (o), just
  // before it, else with the drain after (a); (a)'s own delivery with the drain after (a).
  const soloA = a?.drain?.deliverOnlyRate ?? null
  const o = R.o
  const solo = o?.rate ?? soloA
  const soloSource = o?.rate ? 'drain after (o), just before (d)' : soloA ? 'drain after (a)' : null
  const duringA = a?.deliveredInWindow != null ? (a.deliveredInWindow / C.acceptMs) * 1000 : null
  const ratioNoAdmission = soloA && duringA !== null ? duringA / soloA : null
  const ratioNoAdmissionLate = o?.rate && o.duringRate !== null ? o.duringRate / o.rate : null
  const ratioOverload = solo && d ? d.deliveredRate / solo : null
  const memApi = rssTrend('api', 'apiMsgs')
  const memWorker = rssTrend('worker', 'delivered')
  const memApiD = rssTrend('apiD', 'apiDMsgs')
  const likeApi = rssLikeForLike('api', 'apiMsgs')
  const likeWorker = rssLikeForLike('worker', 'delivered')
  // The target's figure (50,000), whatever BENCH_MEMORY_MESSAGES asked for.
  const memOk = (t) => !!t?.warm && t.messages >= 50_000
  const messagesTotal = mem.samples.length ? mem.samples[mem.samples.length - 1].delivered : null
  const ratio3 = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 1000)
  const sm = R.s
  const smtpVsHttp = sm && a?.acceptRps ? sm.res.acceptRps / a.acceptRps : null

  line('')
  line('================ Hikyaku benchmark ================')
  line(
    `loopback only; ${R.bodyBytes ?? C.bodyBytes}-byte text body, 1 recipient; WORKER_CONCURRENCY=${C.workerConcurrency}, SMTP_POOL_SIZE=${C.smtpPoolSize}, DB_POOL_SIZE=${C.dbPoolSize}; prefix ${C.prefix}`,
  )
  if (a) {
    line('')
    line(
      `(a) accept rate — closed loop, ${C.conns} connections, ${C.warmupMs / 1000}s warm-up + ${C.acceptMs / 1000}s measured; the worker was running (delivering concurrently)`,
    )
    line(
      `    accepted: ${f(a.acceptRps)} req/s (202s completed inside the window: ${a.window.ok202})${sm ? `   | over SMTP (s): ${f(sm.res.acceptRps)} msg/s = ${smtpVsHttp === null ? '—' : smtpVsHttp.toFixed(2)}× HTTP` : ''}`,
    )
    line(
      `    latency of 202s: p50 ${f(a.latency.p50, ' ms')}, p90 ${f(a.latency.p90, ' ms')}, p99 ${f(a.latency.p99, ' ms')}, max ${f(a.latency.max, ' ms')}`,
    )
    line(`    non-202 in window: ${fmtCounts(a.window.byStatus)}; transport errors: ${fmtCounts(a.window.errors)}`)
    line(
      `    whole phase incl. warm-up: ${a.sent} sent, ${a.total.ok202} accepted, non-202 ${fmtCounts(a.total.byStatus)}, errors ${fmtCounts(a.total.errors)}`,
    )
    for (const s of a.total.samples) line(`      sample failure: ${s.status || s.code} ${s.body ?? ''}`)
    line(
      `    delivered to the sink meanwhile: ${a.deliveredInWindow ?? '—'} inside the measured window (${f(a.deliveredInWindow == null ? null : (a.deliveredInWindow / C.acceptMs) * 1000, ' msg/s')} while accepting); ${a.total.ok202 - a.receivedDuring} still queued when the load stopped`,
    )
    line(fmtCpu(a.cpu))
    if (a.drain)
      line(
        `    drain of the backlog left by (a): ${a.drain.ok ? 'complete' : 'INCOMPLETE'} in ${f(a.drain.ms / 1000, ' s')} (${a.drain.missing} missing); delivery with no incoming load ≈ ${f(a.drain.deliverOnlyRate, ' msg/s')}`,
      )
    if (a.drain?.deliverOnlyRate) line(fmtCpu(a.drain.cpu, a.drain.deliverOnlyRate))
  }
  if (sm) {
    const r = sm.res
    // CPU per accepted message over the whole phase (warm-up included) from the same samples.
    const perMsg = (cpu, n, group) => (cpu && n ? ((group ? (cpu.byGroup[group] ?? 0) : cpu.machine) * cpu.secs * 1000) / n : null)
    line('')
    line(
      `(s) SMTP ingress — nodemailer pool, STARTTLS + AUTH PLAIN, ${r.conns} connections, ${r.inflight} sendMail in flight, closed loop, ${r.warmupMs / 1000}s warm-up + ${r.durationMs / 1000}s measured; the worker was running (as in (a))`,
    )
    line(
      `    accepted: ${f(r.acceptRps)} msg/s (250s completed inside the window: ${r.window.ok})${a ? ` vs HTTP (a) ${f(a.acceptRps)} req/s → ${smtpVsHttp === null ? '—' : smtpVsHttp.toFixed(2)}×` : ''}`,
    )
    line(
      `    latency of 250s (sendMail call → reply, incl. waiting for a pooled connection): p50 ${f(r.latency.p50, ' ms')}, p90 ${f(r.latency.p90, ' ms')}, p99 ${f(r.latency.p99, ' ms')}, max ${f(r.latency.max, ' ms')}`,
    )
    line(
      `    errors (non-250 or transport): ${r.total.errorCount} (${fmtCounts(r.total.errors)}) in the whole phase, ${r.window.errorCount} inside the window; ${r.sent} sendMail calls, ${r.total.ok} accepted`,
    )
    for (const x of r.total.samples) line(`      sample error: ${x.key} ${x.message}`)
    line(
      `    connections at the server during the window: max ${f(sm.connections.max)}, median ${f(sm.connections.p50)} (${sm.connections.samples} samples)`,
    )
    line(
      `    delivered to the sink meanwhile: ${sm.deliveredInWindow} inside the window (${f((sm.deliveredInWindow / r.durationMs) * 1000, ' msg/s')} while accepting); ${sm.accepted - sm.receivedDuring} still queued when the load stopped`,
    )
    line(fmtCpu(sm.cpu))
    line(
      `    CPU-ms per accepted message: whole box ${f(perMsg(sm.cpu, r.total.ok))} (HTTP (a): ${f(a ? perMsg(a.cpu, a.total.ok202) : null)}); ingress process smtp ${f(perMsg(sm.cpu, r.total.ok, 'smtp'))} (api in (a): ${f(a ? perMsg(a.cpu, a.total.ok202, 'api') : null)}); client smtpgen ${f(perMsg(sm.cpu, r.total.ok, 'smtpgen'))} (loadgen in (a): ${f(a ? perMsg(a.cpu, a.total.ok202, 'loadgen') : null)})`,
    )
    line(
      `    drain: ${sm.drain.ok ? 'complete' : `INCOMPLETE (${sm.missing} missing)`} in ${f(sm.drain.ms / 1000, ' s')}; delivery with no incoming load ≈ ${f(sm.deliverOnlyRate, ' msg/s')}; smtp RSS ${f(sm.rssBefore, ' MB')} → ${f(sm.rssAfter, ' MB')}`,
    )
    if (C.smtpCpuProf) printProfile(line, 'smtp', 'BENCH_SMTP_CPU_PROF', R.smtpProfile)
  }
  const openBlock = (title, p, rate, durMs) => {
    line('')
    line(title)
    const r = p.res
    line(
      `    offered: ${r.scheduled} requests at ${rate} req/s${r.skipped ? ` (${r.skipped} not sent: generator in-flight cap)` : ''}; max in flight ${r.maxInflight}; generator lag p99 ${f(r.schedulerLag.p99, ' ms')}`,
    )
    line(`    accepted: ${r.total.ok202}; non-202 ${fmtCounts(r.total.byStatus)}; errors ${fmtCounts(r.total.errors)}`)
    for (const s of r.total.samples) line(`      sample failure: ${s.status || s.code} ${s.body ?? ''}`)
    line(
      `    accept latency (from the scheduled send time): p50 ${f(r.latency.p50, ' ms')}, p99 ${f(r.latency.p99, ' ms')}, max ${f(r.latency.max, ' ms')}`,
    )
    line(`    received at the sink inside the ${durMs / 1000}s window: ${p.j.inWindow} → ${f(p.j.inWindow / (durMs / 1000), ' msg/s')}`)
    line(
      `    backlog (accepted − received) at window end: ${p.j.backlogAtEnd}; ${p.allArrived ? `everything arrived ${f(p.drainAfterWindowMs, ' ms')} after the window` : `${p.accepted - p.j.received} NEVER ARRIVED (waited ${f(p.drainWaitMs / 1000, ' s')})`}`,
    )
    if (p.series.length) line(`    backlog at second: ${p.series.map((x) => `${x.t}s ${x.backlog}`).join(', ')}`)
    line(
      p.keptUp
        ? '    verdict: KEPT UP (backlog stayed flat)'
        : `    verdict: DID NOT KEEP UP — backlog grew by ${f(p.growthPerS, ' msg/s')} over the second half of the window`,
    )
    line(
      `    accept(202)→arrival: p50 ${f(p.j.e2e.p50, ' ms')}, p90 ${f(p.j.e2e.p90, ' ms')}, p99 ${f(p.j.e2e.p99, ' ms')}, max ${f(p.j.e2e.max, ' ms')} (n=${p.j.e2e.n})`,
    )
    line(`    submit(X-Bench-Sent-At)→arrival: p50 ${f(p.j.submit.p50, ' ms')}, p99 ${f(p.j.submit.p99, ' ms')}`)
    line(fmtCpu(p.cpu, p.j.inWindow / (durMs / 1000)))
  }
  if (b)
    openBlock(
      `(b) sustained end-to-end — open loop at ${C.e2eRate} req/s for ${C.e2eMs / 1000}s, measured at the sink`,
      b,
      C.e2eRate,
      C.e2eMs,
    )
  if (l) openBlock(`(b2) latency — open loop at ${C.latRate} req/s for ${C.latMs / 1000}s`, l, C.latRate, C.latMs)
  if (m) {
    const r = m.res
    line('')
    line(
      `(m) memory top-up — open loop at ${C.memRate} req/s for ${r.durationMs / 1000}s, so that the api handles ${C.memMessages} messages after its RSS reference point`,
    )
    line(
      `    accepted ${r.total.ok202}/${r.scheduled}; non-202 ${fmtCounts(r.total.byStatus)}; errors ${fmtCounts(r.total.errors)}; received ${m.j.received}; backlog at window end ${m.j.backlogAtEnd}; ${m.keptUp ? 'kept up' : 'DID NOT KEEP UP'}; accept p99 ${f(r.latency.p99, ' ms')}, accept→arrival p99 ${f(m.j.e2e.p99, ' ms')}`,
    )
  }
  if (o) {
    line('')
    line(
      `(o) solo rate for (d) — ${C.soloFillMs / 1000}s closed loop, ${C.conns} connections, on the first api, then the drain of what it left with no incoming load`,
    )
    line(
      `    accepted ${o.accepted} (${f(o.res.acceptRps)}/s; non-202 ${fmtCounts(o.res.total.byStatus)}, errors ${fmtCounts(o.res.total.errors)}); delivered meanwhile (after the first second) ${f(o.duringRate, ' msg/s')}`,
    )
    line(
      `    drain: ${o.drain.ok ? 'complete' : `INCOMPLETE (${o.missing} missing)`}; ${o.n} messages in ${f(o.spanMs, ' ms')} → solo ≈ ${f(o.rate, ' msg/s')}${soloA ? ` (after (a): ${f(soloA, ' msg/s')})` : ''}${o.otherArrivals ? `; ${o.otherArrivals} messages of earlier phases delivered meanwhile (understated)` : ''}`,
    )
    if (o.rate) line(fmtCpu(o.cpuDrain, o.rate))
  }
  const wh = R.w
  const whRate = wh?.rate ?? null
  const whVsBaseline = whRate !== null && c?.msgsPerS ? whRate / c.msgsPerS : null
  const ow = wh?.ow
  const refSolo = wh?.refSolo
  const bwRatio = ow?.rate && refSolo?.rate ? ow.rate / refSolo.rate : null
  const bwAcceptRatio = ow && refSolo?.res.acceptRps ? ow.res.acceptRps / refSolo.res.acceptRps : null
  const bwDuringRatio = ow?.duringRate && refSolo?.duringRate ? ow.duringRate / refSolo.duringRate : null
  // Robust to other users of the machine: this run's own CPU per message without webhooks / with.
  const bwCpuMs = [ownCpuMsPerMessage(refSolo), ownCpuMsPerMessage(ow)]
  const bwCpuRatio = bwCpuMs[0] && bwCpuMs[1] ? bwCpuMs[0] / bwCpuMs[1] : null
  if (wh) {
    const a0 = wh.arrivals
    const rc = wh.receiver
    line('')
    line(
      `(w) webhooks out — one endpoint subscribed to every event type → a loopback receiver (node:http, answers 204); a webhooks process (WEBHOOK_CONCURRENCY=${C.webhookConcurrency}) started once the backlog was in place, the api and worker idle`,
    )
    line(
      `    backlog: ${wh.backlog} events written while (${wh.ref}) ran (email.queued + email.sent of its ${refSolo?.accepted ?? '—'} messages${refSolo?.otherArrivals ? `, email.sent of ${refSolo.otherArrivals} earlier ones` : ''}: real rows written by the pipeline; a new endpoint gets the events from its creation on, so earlier phases' events are not in it)`,
    )
    line(
      `    delivered: ${wh.received} distinct webhook-ids ${wh.drain.ok ? `in ${f(wh.drain.ms / 1000, ' s')}` : `— ${wh.missing} MISSING after ${f(wh.drain.ms / 1000, ' s')}`}; first→last arrival ${f(a0.spanMs, ' ms')} → ${f(whRate, ' webhooks/s')} (${f(a0.rateFromStart, '/s')} counting the process start-up); ${wh.duplicates} repeats; types: ${fmtCounts(wh.types)}`,
    )
    line(
      `    → ${whVsBaseline === null ? '—' : whVsBaseline.toFixed(3)}× the nodemailer baseline (c) ${f(c?.msgsPerS, ' msg/s')} (target ≥ 2,000 webhooks/s)`,
    )
    if (rc)
      line(
        `    receiver: ${rc.requests} requests, ${rc.distinct} distinct ids over (w) and (bw), ${rc.duplicates} repeats; signatures verified with standardwebhooks (1 in ${C.webhookVerifyEvery}): ${rc.verified} ok, ${rc.verifyFailed} failed${rc.verifySamples.length ? ` (${rc.verifySamples[0]})` : ''}; ${rc.opened} connections opened, at most ${rc.maxConnections} at once`,
      )
    line(fmtCpu(wh.cpu, whRate))
    if (wh.received)
      line(
        `    this run's own CPU per webhook (foreign processes left out): ${f((ownCores(wh.cpu) * wh.cpu.secs * 1000) / wh.received, ' ms')}`,
      )
    const db = wh.db
    if (db)
      line(
        `    Postgres: webhook deliveries ${db.error ? `ERROR ${db.error}` : `${fmtCounts(db.deliveries)}; ${db.attempts} attempts (${db.ok} answered 2xx, at most attempt #${db.max_number ?? '—'})${db.errorSamples?.length ? `; failures: ${db.errorSamples.map((e) => `${e.n}× ${e.what.trim()}`).join('; ')}` : ''}`}`,
      )
    if (wh.scans?.length)
      line(
        `    sequential scans during the drain (pg_stat_user_tables, flushed about every second): ${wh.scans
          .slice(0, 4)
          .map((t) => `${t.table} ${t.seqScans} scans, ${round(t.rowsRead)} rows read (${round(t.live)} live)`)
          .join('; ')}`,
      )
    line(
      `    webhooks process: RSS ${f(wh.rss, ' MB')} after (w), ${f(wh.rssEnd, ' MB')} after (bw); shutdown on SIGTERM ${wh.stop?.ms ?? '—'} ms (code ${wh.stop?.code})`,
    )
    if (ow) {
      const hw = ow.webhooks
      line('')
      line(
        `(bw) sending with webhooks — (ow): the solo phase of (${wh.ref}) again (${ow.fillMs / 1000}s closed loop, ${C.conns} connections, then the drain of what it left), the webhooks process running and the endpoint subscribed to every event`,
      )
      line(
        `    accepted ${ow.accepted} (${f(ow.res.acceptRps)}/s vs ${f(refSolo.res.acceptRps)}/s in (${wh.ref}) → ${bwAcceptRatio === null ? '—' : bwAcceptRatio.toFixed(3)}); delivered meanwhile ${f(ow.duringRate, ' msg/s')} vs ${f(refSolo.duringRate, ' msg/s')} → ${bwDuringRatio === null ? '—' : bwDuringRatio.toFixed(3)}`,
      )
      if (ow.otherArrivals || refSolo.otherArrivals)
        line(
          `    NOT COMPARABLE: messages of earlier phases were delivered during (${wh.ref}) (${refSolo.otherArrivals}) or (ow) (${ow.otherArrivals})`,
        )
      line(
        `    drain: ${ow.drain.ok ? 'complete' : `INCOMPLETE (${ow.missing} missing)`}; ${ow.n} messages in ${f(ow.spanMs, ' ms')} → solo with webhooks ≈ ${f(ow.rate, ' msg/s')} vs ${f(refSolo.rate, ' msg/s')} without → send_with_webhooks_ratio ${bwRatio === null ? '—' : bwRatio.toFixed(3)} (target ≥ 0.85)`,
      )
      line(
        `    webhooks for (ow): ${hw.received} (${fmtCounts(hw.types)}; ${hw.duplicates} repeats); ${f(hw.duringRate, '/s')} during the fill; event→receiver lag p50 ${f(hw.lag.p50, ' ms')}, p99 ${f(hw.lag.p99, ' ms')}, max ${f(hw.lag.max, ' ms')}; ${hw.caughtUp ? `all caught up ${f(hw.caughtUpMs, ' ms')} after the mail drain` : `NOT caught up (${hw.left?.unfanned ?? '?'} events not fanned out, ${hw.left?.open ?? '?'} open)`}`,
      )
      line(
        `    this run's own CPU (foreign processes left out) per message, fill and drain: ${f(bwCpuMs[1], ' ms')} with webhooks vs ${f(bwCpuMs[0], ' ms')} without → ${bwCpuRatio === null ? '—' : bwCpuRatio.toFixed(3)} (what the ratio would be if CPU were all that limits it; foreign CPU: ${f(foreignCores(ow.cpuFill))}/${f(foreignCores(ow.cpuDrain))} cores during fill/drain vs ${f(foreignCores(refSolo.cpuFill))}/${f(foreignCores(refSolo.cpuDrain))})`,
      )
      line(fmtCpu(ow.cpuFill))
      if (ow.rate) line(fmtCpu(ow.cpuDrain, ow.rate))
      if (refSolo.rate) line(`    without webhooks ((${wh.ref}), drain):`)
      if (refSolo.rate) line(fmtCpu(refSolo.cpuDrain, refSolo.rate))
    }
  }
  if (d) {
    const r = d.res
    const nonOk = (t) => Object.entries(t.byStatus).filter(([k]) => k !== '503')
    line('')
    line(
      `(d) overload with admission control — a new api with ADMISSION_MAX_BACKLOG=${C.admission} ((a)–(o) ran on one with ${C.mainAdmission}); closed loop, ${C.overloadConns} connections, each waiting the Retry-After delay (at most ${C.retryCapMs / 1000} s${C.retryJitter ? `, then +0–${C.retryJitter * 100}% jitter` : ', no jitter'}) after a 503; ${f(r.warmupUsedMs / 1000, ' s')} warm-up (until the first 503) + ${C.overloadMs / 1000}s measured; the worker kept running`,
    )
    line(
      `    inside the window: ${f(r.acceptRps, ' accepted/s')} (202), ${f(r.rejectRps, ' refused/s')} (503), other non-202 ${fmtCounts(Object.fromEntries(nonOk(r.window)))}, errors ${fmtCounts(r.window.errors)}`,
    )
    line(
      `    Retry-After values: ${fmtCounts(r.retryAfter)}; first 503 ${r.firstRejectMs === null ? 'never' : `after ${f(r.firstRejectMs / 1000, ' s')}`}; connections waited ${r.waits} times, ${f(r.waitedMs / 1000, ' s')} in all`,
    )
    for (const smp of r.total.samples.filter((x) => x.status !== 503).slice(0, 3))
      line(`      sample failure: ${smp.status || smp.code} ${smp.body ?? ''}`)
    line(
      `    latency: 202 p50 ${f(r.latency.p50, ' ms')}, p99 ${f(r.latency.p99, ' ms')}; 503 p50 ${f(r.rejectLatency.p50, ' ms')}, p99 ${f(r.rejectLatency.p99, ' ms')}`,
    )
    line(
      `    delivered to the sink inside the window: ${d.delivered} → ${f(d.deliveredRate, ' msg/s')}${Object.keys(d.deliveredByPhase).some((k) => k !== 'd') ? ` (by phase: ${fmtCounts(d.deliveredByPhase)})` : ''}`,
    )
    line(
      `    solo (deliver-only, ${soloSource ?? 'none measured'}) ${f(solo, ' msg/s')} → overload delivery ratio ${ratioOverload === null ? '—' : ratioOverload.toFixed(3)} (target ≥ 0.8)`,
    )
    if (ratioNoAdmission !== null)
      line(
        `    for contrast, without admission control: (a) ${f(a.acceptRps)} accepted/s, ${f(duringA, ' msg/s')} delivered / ${f(soloA, ' msg/s')} after (a) → ratio ${ratioNoAdmission.toFixed(3)}`,
      )
    if (ratioNoAdmissionLate !== null)
      line(
        `        and (o) ${f(o.res.acceptRps)} accepted/s, ${f(o.duringRate, ' msg/s')} delivered / ${f(o.rate, ' msg/s')} after (o) → ratio ${ratioNoAdmissionLate.toFixed(3)}`,
      )
    const w = d.backlog.waiting
    line(
      `    BullMQ waiting during the window: min ${f(w.n ? Math.min(...d.backlogSeries.filter((x) => x.at >= r.windowStartEpoch && x.at <= r.windowEndEpoch).map((x) => x.waiting)) : null)}, p50 ${f(w.p50)}, max ${f(w.max)}; worker with nothing waiting or active in ${f(d.backlog.idlePct, '%')} of ${d.backlog.n} samples (every 250 ms)`,
    )
    line(`    202s/503s per second since the load started: ${r.perSecond.map((x, i) => `${i + 1}s ${x.ok}/${x.rejected}`).join(', ')}`)
    line(
      `    after the load stopped: ${d.drain.ok ? `all ${d.accepted} accepted arrived within ${f(d.drain.ms, ' ms')}` : `${d.missing} of ${d.accepted} MISSING after ${f(d.drain.ms, ' ms')}`}`,
    )
    line(fmtCpu(d.cpu, d.deliveredRate))
  }
  const x = R.x
  const xo = x?.solo
  const mxRate = x ? x.open.j.inWindow / (C.mxMs / 1000) : null
  const mxVsRelay = mxRate !== null && e2eRate ? mxRate / e2eRate : null
  const mxVsRelaySolo = xo?.rate && o?.rate ? xo.rate / o.rate : null
  if (x) {
    openBlock(
      `(x) MX mode — a new api and worker with DELIVERY_MODE=mx; ${x.domains} recipient domains d1…d${x.domains}.bench.test, each MX → mx.d<i>.bench.test → 127.0.0.<20+i>, one sink listener per address on port ${x.mxPort}, found through a loopback DNS server (127.0.0.1:${x.dnsPort}, udp); open loop at ${C.mxRate} req/s for ${C.mxMs / 1000}s, 1 recipient each, round-robin over the domains${C.mxShaping ? `; SHAPING_CONFIG=${C.mxShaping}` : '; default shaping (10 connections and 100 messages per connection per destination)'}`,
      x.open,
      C.mxRate,
      C.mxMs,
    )
    if (x.warmup)
      line(
        `    before it, unmeasured: smoke message at the sink after ${x.smokeMs} ms; warm-up ${C.warmupMs / 1000}s at ${C.mxRate} req/s: ${x.warmup.accepted} accepted, backlog at its end ${x.warmup.backlogAtEnd}, accept→arrival p50 ${f(x.warmup.e2e.p50, ' ms')}, p99 ${f(x.warmup.e2e.p99, ' ms')}; ${x.warmup.drain.ok ? `drained ${x.warmup.drain.ms} ms later` : `${x.warmup.missing} MISSING`}`,
      )
    const bx = x.open
    const col = (v) => String(v).padStart(12)
    line(`    next to relay mode (b):                     ${col('MX (x)')}${col('relay (b)')}`)
    const row = (name, vx, vb) => line(`      ${name.padEnd(40)}${col(vx)}${col(vb)}`)
    row('offered req/s', C.mxRate, b ? C.e2eRate : '—')
    row('received msgs/s inside the window', f(mxRate), f(e2eRate))
    row('backlog at window end', bx.j.backlogAtEnd, b ? b.j.backlogAtEnd : '—')
    row('accept→arrival p50 ms', f(bx.j.e2e.p50), f(b?.j.e2e.p50))
    row('accept→arrival p99 ms', f(bx.j.e2e.p99), f(b?.j.e2e.p99))
    row('accept p99 ms', f(bx.res.latency.p99), f(b?.res.latency.p99))
    row('kept up', bx.keptUp ? 'yes' : 'NO', b ? (b.keptUp ? 'yes' : 'NO') : '—')
    row(
      'CPU-ms per message (whole box)',
      f(mxRate ? (bx.cpu.machine * 1000) / mxRate : null),
      f(b && e2eRate ? (b.cpu.machine * 1000) / e2eRate : null),
    )
    row('Redis commands per message', f(x.redis?.perMessage), f(b?.redis?.perMessage))
    row('messages in the database at the start', x.dbMessagesAtStart, b?.dbMessagesAtStart ?? '—')
    line(
      `    → mx_vs_relay_e2e ${mxVsRelay === null ? '—' : mxVsRelay.toFixed(3)}${bx.keptUp && b?.keptUp ? ` (both kept up with what was offered, so this is ${C.mxRate}/${C.e2eRate} of offered load, not a capacity ratio; compare the deliver-only rates below)` : ''}`,
    )
    if (x.redis) line(`    Redis commands per message in (x): ${x.redis.top.map((t) => `${t.cmd} ${f(t.perMessage)}`).join(', ')}`)
    if (b?.redis) line(`                               in (b): ${b.redis.top.map((t) => `${t.cmd} ${f(t.perMessage)}`).join(', ')}`)
    line(
      `    BullMQ during the window (every 250 ms): delayed (put aside, e.g. no free connection slot) p50 ${f(x.delayed.p50)}, max ${f(x.delayed.max)}; waiting p50 ${f(x.waiting.p50)}, max ${f(x.waiting.max)}`,
    )
    const cn = x.conns
    line(
      `    connections at the MX sinks during (x): ${cn.opened} opened for ${cn.messages} messages → ${f(cn.perConnection)} messages per connection; per domain opened min ${f(cn.connsPerDomain.min)} / median ${f(cn.connsPerDomain.p50)} / max ${f(cn.connsPerDomain.max)}, messages min ${f(cn.msgsPerDomain.min)} / max ${f(cn.msgsPerDomain.max)}; whole run: at most ${f(cn.maxOpenPerDomain)} open at once on one domain, at most ${f(cn.maxPerConnection)} messages on one connection${C.mxShaping ? '' : ' (limits: 10 and 100)'}; connections left open by the warm-up carry on into the window, hence messages per connection can exceed the cap`,
    )
    line(`      per domain (opened/messages): ${cn.rows.map((r) => `${r.host.split('.').pop()} ${r.opened}/${r.messages}`).join(', ')}`)
    if (x.dns)
      line(
        `    DNS queries over the whole phase: ${x.dns.queries} (${fmtCounts(x.dns.byType)}; ${fmtCounts(x.dns.byRcode)}${x.dns.malformed ? `; ${x.dns.malformed} malformed` : ''})`,
      )
    if (xo) {
      line('')
      line(
        `(xo) deliver-only in MX mode — ${C.mxFillMs / 1000}s closed loop, ${C.conns} connections, on the MX-mode api, then the drain of what it left with no incoming load`,
      )
      line(
        `    accepted ${xo.accepted} (${f(xo.res.acceptRps)}/s; non-202 ${fmtCounts(xo.res.total.byStatus)}, errors ${fmtCounts(xo.res.total.errors)}); delivered meanwhile (after the first second) ${f(xo.duringRate, ' msg/s')}`,
      )
      line(
        `    drain: ${xo.drain.ok ? 'complete' : `INCOMPLETE (${xo.missing} missing)`}; ${xo.n} messages in ${f(xo.spanMs, ' ms')} → MX deliver-only ≈ ${f(xo.rate, ' msg/s')} vs relay solo (o) ${f(o?.rate, ' msg/s')} → ${mxVsRelaySolo === null ? '—' : mxVsRelaySolo.toFixed(3)}`,
      )
      if (x.soloConns)
        line(
          `    connections at the MX sinks during (xo): ${x.soloConns.opened} opened for ${x.soloConns.messages} messages → ${f(x.soloConns.perConnection)} per connection`,
        )
      line(fmtCpu(xo.cpuFill))
      if (xo.rate) line(fmtCpu(xo.cpuDrain, xo.rate))
      const ms = (cpu, rate, group) => (cpu && rate ? ((cpu.byGroup[group] ?? 0) * 1000) / rate : null)
      const workerMs = ms(xo.cpuDrain, xo.rate, 'worker-x')
      if (x.rules?.error) line(`    reply rules: not measured (${x.rules.error})`)
      else if (x.rules && workerMs) {
        const share = (us) => `${((us / 1000 / workerMs) * 100).toFixed(2)} %`
        line(
          `    reply rules (${x.rules.rules} built in): ${f(x.rules.mix.usPerReply)} µs per refused reply (providers' real replies, ${x.rules.mix.matched}/${x.rules.mix.n} matched) = ${share(x.rules.mix.usPerReply)} of the MX worker's CPU per message (${f(workerMs)} ms); worst case (no rule matches, 2,000 characters) ${f(x.rules.worst.usPerReply)} µs = ${share(x.rules.worst.usPerReply)}, were every message refused once (a 2xx is never matched; target < 5 %)`,
        )
      }
      if (xo.rate && o?.rate)
        line(
          `    CPU-ms per message while draining, MX (xo) vs relay (o): worker ${f(ms(xo.cpuDrain, xo.rate, 'worker-x'))} vs ${f(ms(o.cpuDrain, o.rate, 'worker'))}, postgres ${f(ms(xo.cpuDrain, xo.rate, 'postgres'))} vs ${f(ms(o.cpuDrain, o.rate, 'postgres'))}, redis ${f(ms(xo.cpuDrain, xo.rate, 'redis'))} vs ${f(ms(o.cpuDrain, o.rate, 'redis'))} ((xo) runs on a database ${(R.d?.accepted ?? 0) + 1 + (x.warmup?.accepted ?? 0) + x.open.accepted} messages bigger)`,
        )
    }
    const db = x.db
    line(
      `    Postgres, recipients at *.bench.test (expected ${x.expectedRecipients}: smoke + warm-up + (x) + (xo)): ${db.error ? `ERROR ${db.error}` : `${db.total}: ${db.byStatusReason.map((r) => `${r.status}${r.reason ? ` (${r.reason})` : ''} ${r.n}`).join(', ')}; ${db.notDelivered === 0 ? "all 'delivered'" : `${db.notDelivered} NOT 'delivered'`}; ${db.relayRouted} routed to the relay`}`,
    )
    if (!db.error) {
      line(
        `      attempts: ${db.attempts.map((a) => `${a.outcome} ${a.n} (${a.recipients} recipients)`).join(', ')}; e.g. remote host ${db.attempts[0]?.sample_host ?? '—'}`,
      )
      for (const r of db.notDeliveredSamples) line(`      not delivered: ${r.n}× ${r.status} ${r.code ?? ''} ${r.reply}`)
    }
    line(
      `    shutdown on SIGTERM: api (MX) ${x.stopApi?.ms ?? '—'} ms (code ${x.stopApi?.code}), worker (MX) ${x.stopWorker?.ms ?? '—'} ms (code ${x.stopWorker?.code})`,
    )
  }
  const k = R.k
  const kVsSingle = k?.shared?.msgsPerS && R.a?.acceptRps ? k.shared.msgsPerS / R.a.acceptRps : null
  const kTxVsUnloaded = k?.tx?.latency?.p99 && R.l?.j?.e2e?.p99 ? k.tx.latency.p99 / R.l.j.e2e.p99 : null
  if (k) {
    line('')
    line(
      `(k) campaigns — ${k.batches} batches of 1,000 broadcast messages (defaults + per-item recipient), ${k.conns} in flight; then ${k.tx.sent} transactional sends at ${k.txRate}/s during that backlog, timed send → sink`,
    )
    line(
      `    batch accept, API tier (worker stopped): ${f(k.msgsPerS, ' msgs/s')} (${k.apiTier?.accepted} in ${f((k.apiTier?.ms ?? 0) / 1000, ' s')}) (target ≥ 10,000 msgs/s)`,
    )
    line(
      `    batch accept with the worker draining on the same cores: ${f(k.shared?.msgsPerS, ' msgs/s')} (${k.shared?.accepted} in ${f((k.shared?.ms ?? 0) / 1000, ' s')}) = ${f(kVsSingle, '×')} the single-send accept rate of (a), which also runs beside the worker`,
    )
    line(
      `    transactional under the backlog (${k.backlogAtStart} → ${k.backlogAtEnd} broadcast messages waiting): p50 ${f(k.tx.latency.p50, ' ms')}, p99 ${f(k.tx.latency.p99, ' ms')}, max ${f(k.tx.latency.max, ' ms')} (target p99 < 2 s); (b2) unloaded p99 ${f(R.l?.j?.e2e?.p99, ' ms')} → ${f(kTxVsUnloaded, '×')}`,
    )
    line(`    broadcast lane drained ${f(k.broadcastDeliverRate, ' msgs/s')}; ${k.missing} missing after ${f(k.drainMs / 1000, ' s')}`)
  }
  if (R.p) {
    line('')
    line(
      `(p) dashboard — ${R.p.emails} emails in the database (${R.p.accountEmails} of the signed-in account; loaded in ${f(R.p.loadMs / 1000, ' s')}), ${R.p.samples} loads of each page, one at a time, timed at the client (target < 300 ms):`,
    )
    for (const [page, t] of Object.entries(R.p.pages))
      line(`    ${page}: p50 ${f(t.p50, ' ms')}, p90 ${f(t.p90, ' ms')}, max ${f(t.max, ' ms')}`)
    const rt = R.p.retention
    if (rt) {
      line(
        `    retention (RETENTION_BODIES=7d, RETENTION_METADATA=14d): ${rt.purged} emails purged in ${rt.passes.length} passes (${rt.passes.map((p) => `${p.metadata} deleted + ${p.bodies} bodies in ${p.ms} ms`).join('; ')}) → ${f(rt.msPer1000, ' ms')} per 1,000 emails; the emails list meanwhile p50 ${f(rt.listDuring.p50, ' ms')}, p90 ${f(rt.listDuring.p90, ' ms')} (vs ${f(R.p.pages.emails_first_page?.p50, ' ms')} / ${f(R.p.pages.emails_first_page?.p90, ' ms')} before)`,
      )
    }
  }
  const ib = R.i
  const ibRate = ib ? ib.res.acceptRps : null
  const ibVsBaseline = ibRate !== null && c?.msgsPerS ? ibRate / c.msgsPerS : null
  if (ib) {
    const r = ib.res
    line('')
    line(
      `(i) DSNs in — \`hikyaku inbound\` on its own (relay api and worker gone); nodemailer pool, ${r.conns} connections${r.tls ? ' (STARTTLS)' : ''}, ${r.inflight} in flight, closed loop, ${r.warmupMs / 1000}s warm-up + ${r.durationMs / 1000}s measured; MAIL FROM:<>, RCPT the signed return path of a real delivery; the Postfix DSN of test/fixtures (${f(ib.dsnBytes, ' bytes')}) naming its recipient`,
    )
    line(
      `    accepted: ${f(ibRate, ' DSNs/s')} (250s inside the window: ${r.window.ok}) → ${ibVsBaseline === null ? '—' : ibVsBaseline.toFixed(3)}× the baseline (c) (target ≥ 500 DSNs/s)`,
    )
    line(
      `    latency of 250s: p50 ${f(r.latency.p50, ' ms')}, p90 ${f(r.latency.p90, ' ms')}, p99 ${f(r.latency.p99, ' ms')}, max ${f(r.latency.max, ' ms')}; errors ${r.total.errorCount} (${fmtCounts(r.total.errors)}); ${r.sent} sent, ${r.total.ok} accepted over ${ib.targets} available deliveries${r.wrapped ? ' (used again: ran out)' : ''}`,
    )
    for (const x of r.total.samples) line(`      sample error: ${x.key} ${x.message}`)
    const db = ib.db
    line(
      db.error
        ? `    Postgres: ERROR ${db.error}`
        : `    Postgres: of the ${ib.distinctAccepted} deliveries whose DSN got a 250, recipients ${db.recipients.map((x) => `${x.status}${x.reason ? ` (${x.reason})` : ''} ${x.n}`).join(', ')} → ${db.bounced === ib.distinctAccepted ? 'all bounced' : `${ib.distinctAccepted - db.bounced} NOT bounced`}; inbound reports ${db.reportsTotal} (${db.reports.map((x) => `${x.kind}${x.matched ? ' matched' : ' unmatched'} ${x.n}`).join(', ')}); email.bounced events ${db.bouncedEvents}; suppressions ${fmtCounts(db.suppressions)}`,
    )
    line(fmtCpu(ib.cpu, ibRate))
    if (ibRate)
      line(`    this run's own CPU per DSN (foreign processes left out): ${f((ownCores(ib.cpu) * ib.cpu.secs * 1000) / r.total.ok, ' ms')}`)
    if (ib.scans?.length)
      line(
        `    sequential scans while it ran (pg_stat_user_tables of the bench database; nothing else used it): ${ib.scans
          .slice(0, 4)
          .map(
            (t) =>
              `${t.table} ${t.seqScans} scans, ${round(t.rowsRead)} rows read (${r.sent ? f(t.rowsRead / r.sent) : '—'} per DSN; ${round(t.live)} rows live)`,
          )
          .join('; ')}`,
      )
    line(`    inbound process: RSS ${f(ib.rss, ' MB')}; shutdown on SIGTERM ${ib.stop?.ms ?? '—'} ms (code ${ib.stop?.code})`)
    if (C.inboundCpuProf) printProfile(line, 'inbound', 'BENCH_INBOUND_CPU_PROF', ib.profile)
  }
  if (c) {
    line('')
    line(
      `(c) baseline — nodemailer pool (maxConnections 10) → same sink, ${c.requested} messages, ${C.baselineInflight} in flight (after 200 warm-up)`,
    )
    line(
      `    ${f(c.msgsPerS, ' msg/s')} (${c.ok} sent in ${f(c.elapsedMs / 1000, ' s')}; sink counted ${c.sinkReceived}); errors ${fmtCounts(c.errors)}; sendMail p50 ${f(c.latency.p50, ' ms')}, p99 ${f(c.latency.p99, ' ms')}`,
    )
    line(fmtCpu(c.cpu, c.msgsPerS))
  }
  line('')
  if (ratio !== null)
    line(
      `ratio e2e / baseline = ${f(e2eRate)} / ${f(c.msgsPerS)} = ${ratio.toFixed(3)}${b && e2eRate >= 0.97 * C.e2eRate ? ' (e2e kept up with the offered rate, so this is a floor: raise BENCH_E2E_RATE to find the ceiling)' : ''}`,
    )
  if (R.rssBefore)
    line(`RSS MB: api ${f(R.rssBefore.api)} → ${f(R.rssAfter?.api)}, worker ${f(R.rssBefore.worker)} → ${f(R.rssAfter?.worker)}`)
  const memLine = (name, t, what) => {
    if (!t) return
    if (!t.warm) {
      line(`    ${name}: only ${t.total} ${what}, never past ${C.memWarmMessages}; RSS ${f(t.end.rss, ' MB')} at the end`)
      return
    }
    line(
      `    ${name}: ${f(t.warm.rss, ' MB')} after ${t.warm.messages} ${what} (t=${f(t.warm.t, ' s')}) → ${f(t.end.rss, ' MB')} at the end (t=${f(t.end.t, ' s')}, ${t.total}): ${t.growthPct >= 0 ? '+' : ''}${t.growthPct.toFixed(1)}% over ${t.messages}; max ${f(t.max, ' MB')}; second half ${t.secondHalfGrowthPct >= 0 ? '+' : ''}${t.secondHalfGrowthPct.toFixed(1)}%`,
    )
    if (t.checkpoints.length) line(`        at every 10,000: ${t.checkpoints.map((x) => `${x.k / 1000}k ${f(x.rss)}`).join(', ')} MB`)
  }
  if (memApi || memWorker) {
    line(
      `memory — RSS sampled every second; reference point = first sample after ${C.memWarmMessages} messages; target < 10% growth over ≥ ${C.memMessages} messages:`,
    )
    memLine(`api (a–${R.w?.ow ? 'bw' : 'o'})`, memApi, 'messages accepted')
    memLine('worker', memWorker, 'messages delivered')
    const like = (name, x) =>
      x &&
      line(
        `    ${name} like for like: median ${f(x.b.rss, ' MB')} during (b) (by ${x.b.messages} messages) → ${f(x.m.rss, ' MB')} during (m) (by ${x.m.messages}): ${x.pct >= 0 ? '+' : ''}${x.pct.toFixed(1)}%${C.memRate === C.e2eRate ? ` (both at ${C.e2eRate} req/s)` : ` ((b) at ${C.e2eRate}, (m) at ${C.memRate} req/s)`}`,
      )
    like('api', likeApi)
    like('worker', likeWorker)
    if (memApiD?.end)
      line(`    api (d): ${f(memApiD.warm?.rss ?? null, ' MB')} → ${f(memApiD.end.rss, ' MB')} (${memApiD.total} accepted; informational)`)
  }
  if (R.stopApi || R.stopWorker)
    line(
      `shutdown on SIGTERM: api ${R.stopApi?.ms ?? '—'} ms (code ${R.stopApi?.code}), ${R.stopSmtp ? `smtp ${R.stopSmtp.ms} ms (code ${R.stopSmtp.code}), ` : ''}${R.stopApiD ? `api (d) ${R.stopApiD.ms} ms (code ${R.stopApiD.code}), ` : ''}worker ${R.stopWorker?.ms ?? '—'} ms (code ${R.stopWorker?.code})`,
    )
  if (R.dbStatus)
    line(
      `recipients by status in Postgres after (d): ${R.dbStatus.error ? R.dbStatus.error : `${fmtCounts(R.dbStatus.recipients)}; ${R.dbStatus.attempts} attempt rows`}`,
    )
  const sc = R.sinkCountsFinal ?? R.sinkCounts
  if (sc)
    line(
      `sink: ${sc.total} messages, ${sc.duplicates} duplicates, ${sc.untagged} without X-Bench-Id, ${sc.errors} errors, at most ${sc.maxConnections} connections at once`,
    )
  for (const role of LOGGED_ROLES) {
    const s = R.logs?.[role]
    if (s && (s.warn || s.error || s.other)) {
      line(`${role} log: ${s.error} error/fatal, ${s.warn} warn, ${s.other} non-JSON lines`)
      for (const m of s.samples) line(`    ${m.slice(0, 240)}`)
    }
  }
  // Other users of the machine (processes that are not this run's, backends of other databases):
  // figures of a phase they took much CPU from are not comparable with the others'.
  const foreign = [
    ['(a)', a?.cpu],
    ['(s)', sm?.cpu],
    ['(b)', b?.cpu],
    ['(o) drain', o?.cpuDrain],
    ['(w)', wh?.cpu],
    ['(bw) fill', ow?.cpuFill],
    ['(bw) drain', ow?.cpuDrain],
    ['(d)', d?.cpu],
    ['(x)', x?.open.cpu],
    ['(i)', ib?.cpu],
    ['(c)', c?.cpu],
  ]
    .filter(([, cpu]) => cpu)
    .map(([name, cpu]) => [name, foreignCores(cpu)])
  const foreignMax = foreign.length ? Math.max(...foreign.map(([, v]) => v)) : null
  if (foreign.length)
    line(
      `CPU taken by processes foreign to this run (other databases' backends, other programs; kernel threads excluded), cores: ${foreign.map(([n, v]) => `${n} ${v.toFixed(2)}`).join(', ')}`,
    )
  const busyPhases = foreign.filter(([, v]) => v >= 0.25).map(([n]) => n)
  if (busyPhases.length)
    R.notes.push(
      `the machine was shared: ≥ 0.25 cores went to foreign processes during ${busyPhases.join(', ')}; compare those figures with care`,
    )
  for (const n of R.notes) line(`note: ${n}`)
  for (const e of R.errors) line(`PROBLEM: ${e}`)
  if (R.fatal) line(`RUN FAILED: ${R.fatal}`)
  line(`total run time ${elapsed()}`)

  const json = {
    accept_rps: round(a?.acceptRps),
    accept_p50_ms: round(a?.latency.p50),
    accept_p99_ms: round(a?.latency.p99),
    smtp_accept_msgs_per_s: round(sm?.res.acceptRps),
    smtp_accept_p50_ms: round(sm?.res.latency.p50),
    smtp_accept_p99_ms: round(sm?.res.latency.p99),
    smtp_errors: sm ? sm.res.total.errorCount : null,
    smtp_error_sample: sm?.res.total.samples[0] ? `${sm.res.total.samples[0].key} ${sm.res.total.samples[0].message}` : null,
    smtp_connections: sm ? sm.res.conns : null,
    smtp_connections_seen: sm?.connections.max ?? null,
    smtp_vs_http_accept: smtpVsHttp === null ? null : Math.round(smtpVsHttp * 1000) / 1000,
    smtp_drain_complete: sm?.drain.ok ?? null,
    smtp_missing: sm ? sm.missing : null,
    e2e_msgs_per_s: round(e2eRate),
    e2e_p50_ms: round(b?.j.e2e.p50),
    e2e_p99_ms: round(b?.j.e2e.p99),
    baseline_msgs_per_s: round(c?.msgsPerS),
    ratio: ratio === null ? null : Math.round(ratio * 1000) / 1000,
    accept_non202: a ? Object.values(a.total.byStatus).reduce((x, y) => x + y, 0) : null,
    accept_errors: a ? Object.values(a.total.errors).reduce((x, y) => x + y, 0) : null,
    accept_drain_ms: a?.drain?.ms ?? null,
    accept_drain_complete: a?.drain?.ok ?? null,
    deliver_only_msgs_per_s: round(a?.drain?.deliverOnlyRate),
    delivered_during_accept_per_s: a?.deliveredInWindow != null ? round((a.deliveredInWindow / C.acceptMs) * 1000) : null,
    e2e_offered_rps: C.e2eRate,
    e2e_accepted: b?.accepted ?? null,
    e2e_non202: b
      ? Object.values(b.res.total.byStatus).reduce((x, y) => x + y, 0) + Object.values(b.res.total.errors).reduce((x, y) => x + y, 0)
      : null,
    e2e_backlog_at_end: b?.j.backlogAtEnd ?? null,
    e2e_backlog_growth_per_s: round(b?.growthPerS),
    e2e_kept_up: b ? b.keptUp : null,
    e2e_missing: b ? b.accepted - b.j.received : null,
    e2e_drain_ms: round(b?.drainAfterWindowMs),
    e2e_accept_p50_ms: round(b?.res.latency.p50),
    e2e_accept_p99_ms: round(b?.res.latency.p99),
    e2e_cpu_ms_per_msg: b && e2eRate ? round((b.cpu.machine * 1000) / e2eRate) : null,
    lat_rate: l ? C.latRate : null,
    lat_accept_p50_ms: round(l?.res.latency.p50),
    lat_accept_p99_ms: round(l?.res.latency.p99),
    lat_e2e_p50_ms: round(l?.j.e2e.p50),
    lat_e2e_p99_ms: round(l?.j.e2e.p99),
    api_rss_mb_before: round(R.rssBefore?.api),
    api_rss_mb_after: round(R.rssAfter?.api),
    worker_rss_mb_before: round(R.rssBefore?.worker),
    worker_rss_mb_after: round(R.rssAfter?.worker),
    duplicates: sc?.duplicates ?? null,
    pg_autovacuum: R.autovacuum ?? null,
    worker_running_during_accept: true,
    overload_delivered_msgs_per_s: round(d?.deliveredRate),
    overload_accepted_rps: round(d?.res.acceptRps),
    overload_503_rps: round(d?.res.rejectRps),
    solo_msgs_per_s: round(solo),
    solo_source: soloSource,
    overload_delivery_ratio: ratio3(ratioOverload),
    delivery_ratio_without_admission: ratio3(ratioNoAdmission),
    delivery_ratio_without_admission_late: ratio3(ratioNoAdmissionLate),
    overload_admission_max_backlog: d ? C.admission : null,
    overload_connections: d ? C.overloadConns : null,
    overload_retry_after_cap_s: d ? C.retryCapMs / 1000 : null,
    overload_retry_jitter: d ? C.retryJitter : null,
    overload_warmup_s: d ? round(d.res.warmupUsedMs / 1000) : null,
    overload_other_non202: d
      ? Object.entries(d.res.window.byStatus)
          .filter(([k]) => k !== '503')
          .reduce((x, [, v]) => x + v, 0) + Object.values(d.res.window.errors).reduce((x, y) => x + y, 0)
      : null,
    overload_queue_waiting_p50: round(d?.backlog.waiting.p50),
    overload_queue_waiting_max: round(d?.backlog.waiting.max),
    overload_worker_idle_pct: round(d?.backlog.idlePct),
    overload_missing: d ? d.missing : null,
    messages_total: messagesTotal,
    api_rss_mb_at_warm: round(memApi?.warm?.rss),
    api_rss_mb_end: round(memApi?.end?.rss),
    api_rss_mb_max: round(memApi?.max),
    api_rss_messages: memApi?.warm ? memApi.messages : null,
    api_rss_growth_pct: round(memApi?.growthPct),
    worker_rss_mb_at_warm: round(memWorker?.warm?.rss),
    worker_rss_mb_end: round(memWorker?.end?.rss),
    worker_rss_mb_max: round(memWorker?.max),
    worker_rss_messages: memWorker?.warm ? memWorker.messages : null,
    worker_rss_growth_pct: round(memWorker?.growthPct),
    api_rss_b_to_m_pct: round(likeApi?.pct),
    worker_rss_b_to_m_pct: round(likeWorker?.pct),
    rss_over_50k_messages: memApi || memWorker ? memOk(memApi) && memOk(memWorker) : null,
    rss_flat: memApi || memWorker ? memOk(memApi) && memOk(memWorker) && memApi.growthPct < 10 && memWorker.growthPct < 10 : null,
    mx_e2e_msgs_per_s: round(mxRate),
    mx_e2e_p50_ms: round(x?.open.j.e2e.p50),
    mx_e2e_p99_ms: round(x?.open.j.e2e.p99),
    mx_kept_up: x ? x.open.keptUp : null,
    mx_vs_relay_e2e: ratio3(mxVsRelay),
    mx_domains: x ? x.domains : null,
    mx_offered_rps: x ? C.mxRate : null,
    mx_accepted: x ? x.open.accepted : null,
    mx_non202: x
      ? Object.values(x.open.res.total.byStatus).reduce((p, q) => p + q, 0) +
        Object.values(x.open.res.total.errors).reduce((p, q) => p + q, 0)
      : null,
    mx_backlog_at_end: x ? x.open.j.backlogAtEnd : null,
    mx_missing: x ? x.open.accepted - x.open.j.received : null,
    mx_drain_ms: round(x?.open.drainAfterWindowMs),
    mx_accept_p99_ms: round(x?.open.res.latency.p99),
    mx_cpu_ms_per_msg: x && mxRate ? round((x.open.cpu.machine * 1000) / mxRate) : null,
    mx_redis_cmds_per_msg: round(x?.redis?.perMessage),
    relay_redis_cmds_per_msg: round(b?.redis?.perMessage),
    mx_delayed_jobs_max: x ? round(x.delayed.max) : null,
    mx_connections_opened: x ? x.conns.opened : null,
    mx_msgs_per_connection: round(x?.conns.perConnection),
    mx_max_open_per_domain: x ? x.conns.maxOpenPerDomain : null,
    mx_max_msgs_on_one_connection: x?.allConns ? x.allConns.maxPerConnection : null,
    mx_dns_queries: x?.dns ? x.dns.queries : null,
    mx_deliver_only_msgs_per_s: round(xo?.rate),
    mx_vs_relay_deliver_only: ratio3(mxVsRelaySolo),
    dashboard_emails_in_database: R.p?.emails ?? null,
    dashboard_overview_p50_ms: round(R.p?.pages?.overview_7d?.p50),
    dashboard_overview_p90_ms: round(R.p?.pages?.overview_7d?.p90),
    dashboard_emails_list_p50_ms: round(R.p?.pages?.emails_first_page?.p50),
    dashboard_emails_list_p90_ms: round(R.p?.pages?.emails_first_page?.p90),
    retention_ms_per_1000_emails: round(R.p?.retention?.msPer1000),
    dashboard_worst_page_p90_ms: R.p ? round(Math.max(...Object.values(R.p.pages).map((x) => x.p90 ?? 0))) : null,
    batch_accept_msgs_per_s: round(R.k?.msgsPerS),
    batch_accept_msgs_per_s_with_delivery_beside: round(R.k?.shared?.msgsPerS),
    batch_vs_single_accept: ratio3(R.k?.shared?.msgsPerS && R.a?.acceptRps ? R.k.shared.msgsPerS / R.a.acceptRps : null),
    transactional_p50_ms_under_broadcast_backlog: round(R.k?.tx?.latency?.p50),
    transactional_p99_ms_under_broadcast_backlog: round(R.k?.tx?.latency?.p99),
    transactional_p99_vs_unloaded: ratio3(R.k?.tx?.latency?.p99 && R.l?.j?.e2e?.p99 ? R.k.tx.latency.p99 / R.l.j.e2e.p99 : null),
    broadcast_backlog_at_transactional_start: R.k ? R.k.backlogAtStart : null,
    broadcast_lane_msgs_per_s: round(R.k?.broadcastDeliverRate),
    reply_rules_us_per_reply: round(x?.rules?.mix?.usPerReply),
    reply_rules_worst_us_per_reply: round(x?.rules?.worst?.usPerReply),
    reply_rules_share_of_mx_worker_cpu: (() => {
      const workerMs = xo?.rate && xo.cpuDrain ? ((xo.cpuDrain.byGroup['worker-x'] ?? 0) * 1000) / xo.rate : null
      return workerMs && x?.rules?.worst ? ratio3(x.rules.worst.usPerReply / 1000 / workerMs) : null
    })(),
    mx_recipients_delivered: x?.db && !x.db.error ? x.db.delivered : null,
    mx_recipients_not_delivered: x?.db && !x.db.error ? x.db.notDelivered : null,
    mx_recipient_statuses: x?.db && !x.db.error ? x.db.byStatus : null,
    webhook_deliveries_per_s: round(whRate),
    webhook_vs_baseline: ratio3(whVsBaseline),
    webhook_per_s_from_start: round(wh?.arrivals.rateFromStart),
    webhook_backlog: wh ? wh.backlog : null,
    webhook_received: wh ? wh.received : null,
    webhook_missing: wh ? wh.missing : null,
    webhook_repeats: wh?.receiver ? wh.receiver.duplicates : null,
    webhook_signatures_verified: wh?.receiver ? wh.receiver.verified : null,
    webhook_signatures_failed: wh?.receiver ? wh.receiver.verifyFailed : null,
    webhook_concurrency: wh ? Number(C.webhookConcurrency) : null,
    webhook_cpu_ms_per_delivery: wh && whRate ? round((wh.cpu.machine * 1000) / whRate) : null,
    send_with_webhooks_ratio: ratio3(bwRatio),
    send_with_webhooks_comparable: wh?.ow ? wh.comparable : null,
    send_with_webhooks_cpu_ratio: ratio3(bwCpuRatio),
    send_with_webhooks_msgs_per_s: round(ow?.rate),
    send_without_webhooks_msgs_per_s: round(refSolo?.rate),
    send_with_webhooks_accept_ratio: ratio3(bwAcceptRatio),
    send_with_webhooks_during_ratio: ratio3(bwDuringRatio),
    send_with_webhooks_lag_p50_ms: round(ow?.webhooks.lag.p50),
    send_with_webhooks_lag_p99_ms: round(ow?.webhooks.lag.p99),
    send_with_webhooks_caught_up_ms: ow?.webhooks.caughtUp ? round(ow.webhooks.caughtUpMs) : null,
    inbound_dsns_per_s: round(ibRate),
    inbound_vs_baseline: ratio3(ibVsBaseline),
    inbound_p50_ms: round(ib?.res.latency.p50),
    inbound_p99_ms: round(ib?.res.latency.p99),
    inbound_errors: ib ? ib.res.total.errorCount : null,
    inbound_connections: ib ? ib.res.conns : null,
    inbound_accepted: ib ? ib.res.total.ok : null,
    inbound_bounced: ib && !ib.db.error ? ib.db.bounced : null,
    inbound_bounced_expected: ib ? ib.distinctAccepted : null,
    inbound_cpu_ms_per_dsn: ib && ibRate ? round((ib.cpu.machine * 1000) / ibRate) : null,
    foreign_cpu_max_cores: round(foreignMax),
    errors: [...R.errors, ...(R.fatal ? [R.fatal] : [])],
  }
  line(JSON.stringify(json))
  process.stdout.write(`${out.join('\n')}\n`)
}

let exitCode = 0
try {
  await main()
} catch (err) {
  const reason = abort.signal.aborted ? abort.signal.reason?.message : err instanceof Error ? err.message : String(err)
  R.fatal = reason
  exitCode = abortedBy === 'signal' ? 130 : 1
  progress(`run failed: ${reason}`)
}
try {
  await teardown()
} catch (err) {
  progress(`cleanup failed: ${err.message}`)
  exitCode = exitCode || 1
}
report()
process.exit(exitCode)
