import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, type Spawned, spawnHikyaku, startPrivatePostgres, startPrivateRedis } from '../../test/helpers/processes.js'

/**
 * Everything the soak runs, all on loopback and all its own: a PostgreSQL cluster, a redis-server
 * with an append-only file, and Hikyaku's processes (one api, two workers) as children, each
 * logging to a file of the run. Processes are known by name; an exit nobody asked for is noted.
 */

/** Compressed timings, so that leases, retries, sweeps and drains all happen inside minutes. */
export const TIMINGS = {
  RETRY_SCHEDULE: '2s,4s,8s,16s',
  DELIVERY_LEASE: '6s',
  LEASE_RENEW_INTERVAL: '2s',
  SWEEP_INTERVAL: '2s',
  SHUTDOWN_TIMEOUT: '3s',
  SMTP_TIMEOUT: '5s',
  SMTP_DATA_TIMEOUT: '8s',
  SMTP_TRANSACTION_TIMEOUT: '20s',
  MAX_DELIVERY_AGE: '30m',
  DB_STATEMENT_TIMEOUT: '5s',
}
export const RETRY_SCHEDULE_MS = [2_000, 4_000, 8_000, 16_000]
export const RETRY_JITTER = 0.1
export const SHUTDOWN_TIMEOUT_MS = 3_000

export type ProcessName = 'api' | 'worker-1' | 'worker-2'
export const WORKERS: ProcessName[] = ['worker-1', 'worker-2']

export interface ExitRecord {
  name: ProcessName
  pid: number | undefined
  code: number | null
  signal: string | null
  /** Exits we caused (a kill, a deploy, the final stop) are expected; any other is a finding. */
  expected: boolean
  at: number
}

interface Running {
  proc: Spawned
  expectExit: boolean
}

const READY_MARK: Record<ProcessName, string> = {
  api: '"msg":"HTTP API listening"',
  'worker-1': '"msg":"delivery worker started"',
  'worker-2': '"msg":"delivery worker started"',
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function startCluster(options: { logDir: string; relayUrl: string; t0: number }) {
  const pg = await startPrivatePostgres()
  const redis = await startPrivateRedis({ persistent: true }).catch(async (err) => {
    await pg.destroy()
    throw err
  })
  const varDir = mkdtempSync(join(tmpdir(), 'hikyaku-chaos-var-'))
  const apiPort = await freePort()
  const env: Record<string, string> = {
    HIKYAKU_ENV: 'development',
    HIKYAKU_VAR_DIR: varDir,
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    BULLMQ_PREFIX: 'chaos',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: String(apiPort),
    SMTP_RELAY_URL: options.relayUrl,
    HELO_NAME: 'hikyaku.chaos.test',
    DB_POOL_SIZE: '10',
    SMTP_POOL_SIZE: '16',
    RATE_LIMIT_MAX: '1000000',
    ...TIMINGS,
  }
  const logs = new Map<ProcessName | 'setup', WriteStream>()
  const logOf = (name: ProcessName | 'setup') => {
    const known = logs.get(name)
    if (known) return known
    const log = createWriteStream(join(options.logDir, `${name}.log`), { flags: 'a' })
    logs.set(name, log)
    return log
  }
  const running = new Map<ProcessName, Running>()
  const exits: ExitRecord[] = []
  const listeners: Array<(exit: ExitRecord) => void> = []

  /** Runs a one-shot command to its end (bounded); returns its output, throws unless it exits 0. */
  async function oneShot(args: string[], timeoutMs = 90_000): Promise<string> {
    const proc = spawnHikyaku(args, env)
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs)
    const code = await proc.exited
    clearTimeout(timer)
    logOf('setup').write(`$ hikyaku ${args.join(' ')} → ${code}\n${proc.output()}\n`)
    if (code !== 0) throw new Error(`hikyaku ${args.join(' ')} exited ${code}: ${proc.output().slice(-2000)}`)
    return proc.output()
  }

  /** Spawns `name` (its log appended to) and waits until it says it is serving (bounded). */
  async function start(name: ProcessName): Promise<void> {
    const proc = spawnHikyaku([name === 'api' ? 'api' : 'worker'], env)
    const log = logOf(name)
    log.write(`--- ${new Date().toISOString()} started pid ${proc.child.pid}\n`)
    proc.child.stdout?.on('data', (chunk) => log.write(chunk))
    proc.child.stderr?.on('data', (chunk) => log.write(chunk))
    const entry: Running = { proc, expectExit: false }
    running.set(name, entry)
    void proc.exited.then((code) => {
      const exit: ExitRecord = {
        name,
        pid: proc.child.pid,
        code,
        signal: proc.child.signalCode,
        expected: entry.expectExit,
        at: Date.now() - options.t0,
      }
      exits.push(exit)
      log.write(`--- ${new Date().toISOString()} pid ${proc.child.pid} exited code ${code} signal ${proc.child.signalCode}\n`)
      if (running.get(name) === entry) running.delete(name)
      for (const listen of listeners) listen(exit)
    })
    const deadline = Date.now() + 60_000
    while (!proc.output().includes(READY_MARK[name])) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`${name} exited while starting`)
      if (Date.now() > deadline) throw new Error(`${name} did not start within 60 s`)
      await sleep(100)
    }
  }

  /** Signals a process taken out of `running`; resolves with its exit (SIGKILL after `killAfterMs`). */
  async function stopEntry(entry: Running, sig: NodeJS.Signals, killAfterMs: number): Promise<ExitRecord> {
    entry.expectExit = true
    const pid = entry.proc.child.pid
    const known = exits.find((e) => e.pid === pid)
    const exited = known
      ? Promise.resolve(known)
      : new Promise<ExitRecord>((resolve) => {
          const listen = (exit: ExitRecord) => {
            if (exit.pid !== pid) return
            listeners.splice(listeners.indexOf(listen), 1)
            resolve(exit)
          }
          listeners.push(listen)
        })
    entry.proc.child.kill(sig)
    const timer = setTimeout(() => entry.proc.child.kill('SIGKILL'), killAfterMs)
    const exit = await exited
    clearTimeout(timer)
    return exit
  }

  /** Sends `sig` to `name`; resolves with its exit (bounded: SIGKILL after `killAfterMs`). */
  async function signal(name: ProcessName, sig: NodeJS.Signals, killAfterMs = 30_000): Promise<ExitRecord | undefined> {
    const entry = running.get(name)
    if (!entry) return undefined
    running.delete(name)
    return stopEntry(entry, sig, killAfterMs)
  }

  /**
   * A deploy: SIGTERM to `name` and its replacement started at the same moment. Resolves with the
   * old process's exit and how long it took to drain, once the replacement serves.
   */
  async function deploy(name: ProcessName): Promise<{ exit: ExitRecord; drainMs: number } | undefined> {
    const entry = running.get(name)
    if (!entry) return undefined
    running.delete(name)
    const began = Date.now()
    const drained = stopEntry(entry, 'SIGTERM', 30_000).then((exit) => ({ exit, drainMs: Date.now() - began }))
    const [result] = await Promise.all([drained, start(name)])
    return result
  }

  async function apiAnswers(path: string): Promise<number | undefined> {
    try {
      const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, { signal: AbortSignal.timeout(3_000) })
      await res.arrayBuffer()
      return res.status
    } catch {
      return undefined
    }
  }

  return {
    env,
    pg,
    redis,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    exits,
    start,
    signal,
    deploy,
    oneShot,
    isRunning: (name: ProcessName) => running.has(name),
    pidOf: (name: ProcessName) => running.get(name)?.proc.child.pid,
    /**
     * Every process kind runs and is healthy: the api answers /readyz (PostgreSQL and Redis
     * reachable), both workers run, Redis answers PING. Restarts whatever is not running.
     */
    async ensureHealthy(timeoutMs: number, stopped = () => false): Promise<{ ok: boolean; restarted: ProcessName[]; last: string }> {
      const restarted: ProcessName[] = []
      const deadline = Date.now() + timeoutMs
      let last = ''
      while (Date.now() < deadline && !stopped()) {
        for (const name of ['api', ...WORKERS] as ProcessName[]) {
          if (running.has(name)) continue
          restarted.push(name)
          try {
            await start(name)
          } catch (err) {
            last = `${name}: ${(err as Error).message}`
          }
        }
        const ready = await apiAnswers('/readyz')
        const ping = await redis.client.ping().catch(() => 'down')
        last = `readyz ${ready ?? 'no answer'}, redis ${ping}, running ${[...running.keys()].join(',')}`
        if (ready === 200 && ping === 'PONG' && running.size === 3) return { ok: true, restarted, last }
        await sleep(500)
      }
      return { ok: false, restarted, last }
    },
    /** Stops every Hikyaku process with SIGTERM (bounded), then the databases; removes their files. */
    async destroy(): Promise<ExitRecord[]> {
      const stopped = await Promise.all([...running.keys()].map((name) => signal(name, 'SIGTERM', 25_000)))
      await redis.destroy().catch(() => {})
      await pg.destroy().catch(() => {})
      rmSync(varDir, { recursive: true, force: true })
      for (const log of logs.values()) log.end()
      return stopped.filter((e): e is ExitRecord => e !== undefined)
    },
    /** Stops the Hikyaku processes only (SIGTERM, bounded), keeping the databases for the checker. */
    async stopProcesses(): Promise<ExitRecord[]> {
      const stopped = await Promise.all([...running.keys()].map((name) => signal(name, 'SIGTERM', 25_000)))
      return stopped.filter((e): e is ExitRecord => e !== undefined)
    },
  }
}

export type Cluster = Awaited<ReturnType<typeof startCluster>>
