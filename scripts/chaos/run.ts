import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import pg from 'pg'
import { type CheckResult, check, type Violation } from './checker.js'
import { type Cluster, type ExitRecord, RETRY_JITTER, RETRY_SCHEDULE_MS, startCluster, TIMINGS, WORKERS } from './cluster.js'
import { createFaults, type Faults } from './faults.js'
import { createLoader, type Loader } from './loader.js'
import { readOptions, seededRandom } from './options.js'
import { type Receiver, startReceiver } from './receiver.js'
import { faultFigures, formatSummary, messageFigures, type Summary, writeSummary } from './report.js'
import { sabotage } from './sabotage.js'

/**
 * `npm run chaos`: a bounded soak with randomized faults, then a check of the promises.
 * Setup (private PostgreSQL, Redis, SMTP sink; migrate; an account; one api, two workers) →
 * load and faults for --duration → quiesce (load and faults stopped, every process healthy,
 * every accepted recipient terminal, bounded by --settle) → stop Hikyaku → check → tear down.
 * Everything started is stopped at the end, on failure and on Ctrl-C too.
 */
const options = readOptions(process.argv.slice(2), process.env)
const t0 = Date.now()
const startedAt = new Date(t0).toISOString()
const stamp = startedAt.replace(/[:.]/g, '-')
const outDir = resolve(options.outDir)
const logDir = join(outDir, stamp)
mkdirSync(logDir, { recursive: true })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const log = (text: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${text}`)

let interrupted = false
const onSignal = (signal: NodeJS.Signals) => {
  if (interrupted) return
  interrupted = true
  log(`${signal}: stopping the load and the faults, then everything this run started`)
  loader?.abandon()
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)
const stopped = () => interrupted

let receiver: Receiver | undefined
let cluster: Cluster | undefined
let loader: Loader | undefined
let faults: Faults | undefined
let result: CheckResult | undefined
let finalStop: ExitRecord[] = []
let error: string | undefined
let loadMs = 0
let settleMs: number | null = null
const extra: Violation[] = []
let selfTest: { expected: string[]; missed: string[] } | undefined

/** Recipients not yet terminal, read from the database. */
async function pendingCount(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: string }>(
      "SELECT count(*) AS n FROM recipients WHERE status IN ('scheduled', 'queued', 'deferred', 'sending')",
    )
    return Number(rows[0]?.n ?? 0)
  } finally {
    await client.end()
  }
}

async function soak(): Promise<void> {
  log(`seed ${options.seed}; load ${options.durationMs / 1000} s at ${options.rate}/s; logs in ${logDir}`)
  receiver = await startReceiver()
  cluster = await startCluster({ logDir, relayUrl: receiver.url, t0 })
  const c = cluster
  log(`PostgreSQL on port ${c.pg.port}, Redis on port ${c.redis.port}, sink on port ${receiver.port}`)
  await c.oneShot(['migrate'])
  const apiKey = (await c.oneShot(['accounts', 'create', 'chaos']))
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('hk_'))
  if (!apiKey) throw new Error('`hikyaku accounts create` printed no key')
  await Promise.all([c.start('api'), ...WORKERS.map((w) => c.start(w))])
  const healthy = await c.ensureHealthy(60_000)
  if (!healthy.ok) throw new Error(`not healthy after start: ${healthy.last}`)
  log(`api on ${c.apiUrl}, ${WORKERS.length} workers; load and faults begin`)

  loader = createLoader({ apiUrl: c.apiUrl, apiKey, ...options, random: seededRandom(options.seed), t0 })
  faults = createFaults({ cluster: c, receiver, random: seededRandom(options.seed ^ 0x5eed), t0, skip: options.skip })
  const l = loader
  const loadStart = Date.now()
  const until = loadStart + options.durationMs
  const progress = setInterval(() => {
    const accepted = l.offers.filter((o) => o.final === 'accepted' && o.tries.length > 0).length
    log(`offered ${l.offers.length}, accepted ${accepted}, in flight ${l.inFlight}, sink received ${receiver?.received}`)
  }, 30_000)
  try {
    await Promise.all([l.run(until, stopped), faults.run(until, stopped, options.faultGapMs)])
    loadMs = Date.now() - loadStart
    log('load and faults stopped; waiting for the requests still in flight')
    await l.drain()
  } finally {
    clearInterval(progress)
  }
  if (interrupted) return

  // Quiesce: the receiver behaves, every process kind runs and is healthy, everything accepted ends.
  receiver.calm()
  const health = await c.ensureHealthy(90_000)
  if (!health.ok) extra.push({ rule: 'quiesce', detail: `not healthy after the load: ${health.last}` })
  const settleStart = Date.now()
  let pending = -1
  while (!interrupted && Date.now() - settleStart < options.settleMs) {
    pending = await pendingCount(c.pg.url).catch(() => -1)
    if (pending === 0) {
      settleMs = Date.now() - settleStart
      break
    }
    await sleep(1_000)
  }
  log(settleMs === null ? `${pending} recipients still pending after ${options.settleMs / 1000} s` : `all terminal after ${settleMs} ms`)
  if (interrupted) return

  finalStop = await c.stopProcesses()
  for (const e of finalStop) {
    if (e.code !== 0) extra.push({ rule: 'final-stop', detail: `${e.name} (pid ${e.pid}) exited ${e.code ?? e.signal} on SIGTERM, not 0` })
  }
  const damaged = options.sabotage ? await sabotage(c.pg.url, receiver.counts()) : undefined
  if (damaged) log(`sabotaged the database: the checker must report ${damaged.join(', ')}`)
  log('checking')
  result = await check({
    databaseUrl: c.pg.url,
    offers: l.offers,
    received: receiver.counts(),
    exits: c.exits,
    faultProblems: faults.problems,
    scheduleMs: RETRY_SCHEDULE_MS,
    jitter: RETRY_JITTER,
    toleranceMs: 250,
  })
  if (damaged) selfTest = { expected: damaged, missed: damaged.filter((rule) => !result?.violations.some((v) => v.rule === rule)) }
}

// Every loop is bounded; this is the bound on the whole, should something hang regardless.
const watchdog = setTimeout(
  () => {
    error = 'the run exceeded its time bound'
    console.error(`${error}; stopping everything`)
    void Promise.allSettled([cluster?.destroy(), receiver?.close()]).then(() => process.exit(3))
  },
  options.durationMs + options.settleMs + 15 * 60_000,
)
watchdog.unref()

try {
  await soak()
} catch (err) {
  error = (err as Error).stack ?? String(err)
}
if (interrupted && !error) error = 'interrupted'
await cluster?.destroy().catch((err) => console.error(`teardown: ${(err as Error).message}`))
await receiver?.close().catch(() => {})
clearTimeout(watchdog)

const violations = [...extra, ...(result?.violations ?? [])]
const violationsByRule: Record<string, number> = {}
for (const v of violations) violationsByRule[v.rule] = (violationsByRule[v.rule] ?? 0) + 1
const { seed, ...rest } = options
const summary: Summary = {
  startedAt,
  seed,
  options: rest,
  timings: TIMINGS,
  phases: { loadMs, settleMs, totalMs: Date.now() - t0 },
  messages: messageFigures(loader?.offers ?? [], loader?.shed ?? 0, result?.stats.landedUnknown ?? 0),
  faults: faultFigures(faults?.records ?? []),
  deploys: faults?.deploys ?? [],
  finalStop,
  check: result?.stats ?? null,
  violations,
  violationsByRule,
  logDir,
  ...(selfTest ? { selfTest } : {}),
  ...(error ? { error } : {}),
}
const file = join(outDir, `${stamp}.json`)
writeSummary(file, summary)
console.log(formatSummary(summary))
console.log(`  summary: ${file}`)
if (selfTest) {
  console.log(
    `  self-test: ${selfTest.missed.length === 0 ? 'every sabotage was reported' : `NOT reported: ${selfTest.missed.join(', ')}`}`,
  )
}
// With --sabotage, violations are the point: the run passes when each damage was found.
const failed = selfTest ? selfTest.missed.length > 0 : violations.length > 0
process.exit(interrupted ? 130 : error || failed || !result ? 1 : 0)
