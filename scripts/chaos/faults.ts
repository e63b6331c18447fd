import { type Cluster, type ProcessName, SHUTDOWN_TIMEOUT_MS, WORKERS } from './cluster.js'
import type { Random } from './options.js'
import type { Receiver, WindowKind } from './receiver.js'

/**
 * Randomized faults, one at a time: after a seeded pause, a seeded kind, then the wait until every
 * process kind is healthy again, so faults never pile up into a state no deployment would see.
 * Kinds come from a shuffled bag, so every kind is injected before any repeats.
 */
export const FAULT_KINDS = [
  'worker-kill',
  'worker-deploy',
  'api-kill',
  'redis-restart',
  'redis-flush',
  'pg-restart',
  'sink-451',
  'sink-stall',
  'sink-drop',
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

export interface FaultRecord {
  kind: FaultKind
  /** Milliseconds since the run started, and the wall clock. */
  at: number
  time: string
  detail: string
  /** How long the fault itself took (down time, window), then until everything was healthy again. */
  ms: number
  recoveredMs: number
}

/** A finding made while injecting: a deploy that did not exit 0 in time, a process that would not come back. */
export interface FaultProblem {
  at: number
  what: string
}

/** A graceful stop may take SHUTDOWN_TIMEOUT, then closing pools and connections: this much more at most. */
export const DRAIN_MARGIN_MS = 5_000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const WINDOWS: Record<'sink-451' | 'sink-stall' | 'sink-drop', WindowKind[]> = {
  'sink-451': ['all-451'],
  'sink-stall': ['stall-rcpt', 'stall-data'],
  'sink-drop': ['drop-after-dot'],
}

export function createFaults(deps: { cluster: Cluster; receiver: Receiver; random: Random; t0: number; skip: string[] }) {
  const { cluster, receiver, random } = deps
  const kinds = FAULT_KINDS.filter((k) => !deps.skip.includes(k))
  const records: FaultRecord[] = []
  const problems: FaultProblem[] = []
  const deploys: Array<{ name: ProcessName; code: number | null; signal: string | null; drainMs: number }> = []
  let bag: FaultKind[] = []
  const nextKind = (): FaultKind => {
    if (bag.length === 0) {
      bag = [...kinds]
      for (let i = bag.length - 1; i > 0; i--) {
        const j = random.int(0, i)
        ;[bag[i], bag[j]] = [bag[j] as FaultKind, bag[i] as FaultKind]
      }
    }
    return bag.pop() as FaultKind
  }
  const since = () => Date.now() - deps.t0
  const problem = (what: string) => problems.push({ at: since(), what })

  /** Injects one fault; returns what was done. */
  async function inject(kind: FaultKind): Promise<string> {
    switch (kind) {
      case 'worker-kill': {
        const name = random.pick(WORKERS)
        const pid = cluster.pidOf(name)
        const down = random.int(1_000, 3_000)
        const exit = await cluster.signal(name, 'SIGKILL')
        await sleep(down)
        await cluster.start(name)
        return `${name} (pid ${pid}) SIGKILL (${exit?.signal ?? exit?.code}), restarted after ${down} ms`
      }
      case 'worker-deploy': {
        const name = random.pick(WORKERS)
        const pid = cluster.pidOf(name)
        const result = await cluster.deploy(name)
        if (!result) return `${name} was not running`
        const { exit, drainMs } = result
        deploys.push({ name, code: exit.code, signal: exit.signal, drainMs })
        if (exit.code !== 0) problem(`deploy: ${name} (pid ${pid}) exited ${exit.code ?? exit.signal} after SIGTERM, not 0`)
        if (drainMs > SHUTDOWN_TIMEOUT_MS + DRAIN_MARGIN_MS) {
          problem(`deploy: ${name} (pid ${pid}) took ${drainMs} ms to stop (SHUTDOWN_TIMEOUT ${SHUTDOWN_TIMEOUT_MS} ms)`)
        }
        return `${name} (pid ${pid}) SIGTERM with its replacement started at once: exit ${exit.code ?? exit.signal} after ${drainMs} ms`
      }
      case 'api-kill': {
        const pid = cluster.pidOf('api')
        const exit = await cluster.signal('api', 'SIGKILL')
        await cluster.start('api')
        return `api (pid ${pid}) SIGKILL (${exit?.signal ?? exit?.code}), restarted at once`
      }
      case 'redis-restart': {
        const down = random.int(500, 3_000)
        await cluster.redis.restart(down)
        return `redis SIGTERM, started again on its port and directory after ${down} ms`
      }
      case 'redis-flush': {
        const keys = await cluster.redis.client.dbsize()
        await cluster.redis.client.flushall()
        return `FLUSHALL (${keys} keys)`
      }
      case 'pg-restart': {
        await cluster.pg.restart()
        return 'pg_ctl restart -m fast'
      }
      default: {
        const window = random.pick(WINDOWS[kind])
        const ms = random.int(3_000, 8_000)
        await receiver.misbehave(window, ms)
        return `receiver ${window} for ${ms} ms`
      }
    }
  }

  return {
    records,
    problems,
    deploys,
    /** Injects faults until `until` (ms epoch) or `stopped()`; every one is over when this resolves. */
    async run(until: number, stopped: () => boolean, gapMs: [number, number]): Promise<void> {
      while (!stopped()) {
        const gap = random.int(gapMs[0], gapMs[1])
        const wakeAt = Date.now() + gap
        while (Date.now() < wakeAt && Date.now() < until && !stopped()) await sleep(Math.min(250, wakeAt - Date.now()))
        if (Date.now() >= until || stopped()) return
        const kind = nextKind()
        const at = since()
        const time = new Date().toISOString()
        const began = Date.now()
        let detail: string
        try {
          detail = await inject(kind)
        } catch (err) {
          detail = `failed: ${(err as Error).message}`
          problem(`${kind}: ${detail}`)
        }
        const ms = Date.now() - began
        const health = await cluster.ensureHealthy(90_000, stopped)
        if (stopped()) return
        if (!health.ok) problem(`${kind}: not healthy again within 90 s (${health.last})`)
        // A process that exited by itself is a finding of the checker (the cluster's exit records).
        if (health.restarted.length > 0) detail += `; restarted ${health.restarted.join(', ')}, which had exited by itself`
        const record = { kind, at, time, detail, ms, recoveredMs: Date.now() - began - ms }
        records.push(record)
        console.log(
          `[${(since() / 1000).toFixed(1)}s] fault ${kind} (at ${(at / 1000).toFixed(1)}s): ${detail}; healthy again after ${record.recoveredMs} ms`,
        )
      }
    },
  }
}

export type Faults = ReturnType<typeof createFaults>
