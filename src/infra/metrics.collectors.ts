import { performance } from 'node:perf_hooks'
import { Queue } from 'bullmq'
import { Gauge, type Metric } from 'prom-client'
import { withTimeout } from '../lib/timeout.js'
import type { Pool } from './db.js'
import type { Redis } from './redis.js'

/**
 * What is read when /metrics is scraped rather than counted as it happens: the state of the
 * pools, the queues, the destinations and the webhook backlog. Each read is bounded by the scrape
 * (src/infra/metrics.ts) and kept cheap: counts from Redis and indexes, never a scan of the data.
 */
export interface Collector {
  /** Names it in `hikyaku_metrics_collector_up`. */
  name: string
  metrics: Metric[]
  /** Reads the current values and sets them; may throw (the scrape then clears them). */
  collect(): Promise<void>
  /** Clears the values: a collection that failed shows nothing rather than stale numbers. */
  reset(): void
  close?(): Promise<void>
}

/** The longest a health check inside a collection waits; the scrape's own bound is longer. */
const PING_TIMEOUT_MS = 1_500

const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [] })

/** The pg pool's clients, and whether Postgres answers (and how fast). */
export function createPostgresCollector(pool: Pool): Collector {
  const total = gauge('hikyaku_postgres_pool_clients', 'Clients (connections) the PostgreSQL pool holds, busy or idle')
  const idle = gauge('hikyaku_postgres_pool_idle', 'Idle clients in the PostgreSQL pool')
  const waiting = gauge('hikyaku_postgres_pool_waiting', 'Queries waiting for a client of the PostgreSQL pool')
  const max = gauge('hikyaku_postgres_pool_max', 'Clients the PostgreSQL pool may hold (DB_POOL_SIZE)')
  const up = gauge('hikyaku_postgres_up', 'Whether PostgreSQL answered SELECT 1 within 1.5 s (1) or not (0)')
  const ping = gauge('hikyaku_postgres_ping_seconds', 'Time PostgreSQL took to answer SELECT 1, pool wait included')
  return {
    name: 'postgres',
    metrics: [total, idle, waiting, max, up, ping],
    async collect() {
      // The pool's counts first: a ping waiting for a client would count itself among them.
      total.set(pool.totalCount)
      idle.set(pool.idleCount)
      waiting.set(pool.waitingCount)
      max.set(pool.options.max ?? 0)
      const started = performance.now()
      try {
        await withTimeout(pool.query('SELECT 1'), PING_TIMEOUT_MS, 'PostgreSQL ping')
        up.set(1)
        ping.set((performance.now() - started) / 1000)
      } catch {
        up.set(0)
        ping.reset()
      }
    },
    reset() {
      for (const g of [total, idle, waiting, max, up, ping]) g.reset()
    },
  }
}

/** Whether Redis answers PING on the process's producer connection, and how fast. */
export function createRedisCollector(redis: Redis): Collector {
  const up = gauge('hikyaku_redis_up', 'Whether Redis answered PING within 1.5 s (1) or not (0)')
  const ping = gauge('hikyaku_redis_ping_seconds', 'Time Redis took to answer PING')
  return {
    name: 'redis',
    metrics: [up, ping],
    async collect() {
      const started = performance.now()
      try {
        await withTimeout(redis.ping(), PING_TIMEOUT_MS, 'Redis ping')
        up.set(1)
        ping.set((performance.now() - started) / 1000)
      } catch {
        up.set(0)
        ping.reset()
      }
    },
    reset() {
      up.reset()
      ping.reset()
    },
  }
}

/** BullMQ states counted per lane; completed and failed jobs are removed at once, so not worth a count. */
const QUEUE_STATES = ['waiting', 'delayed', 'active', 'prioritized'] as const

/** Jobs in each stream's lane by state, and how long the oldest waiting one has been due. */
export function createQueueCollector(deps: { redis: Redis; prefix: string; lanes: Array<{ stream: string; queue: string }> }): Collector {
  const jobs = gauge('hikyaku_queue_jobs', "Delivery jobs in a stream's lane, by state (waiting, delayed, active, prioritized)", [
    'stream',
    'state',
  ])
  const oldest = gauge(
    'hikyaku_queue_oldest_waiting_seconds',
    "How long the oldest waiting job of a stream's lane has been due (0: none waiting)",
    ['stream'],
  )
  const queues = new Map<string, Queue>()
  const queueOf = (name: string): Queue => {
    let queue = queues.get(name)
    if (!queue) {
      queue = new Queue(name, { connection: deps.redis, prefix: deps.prefix })
      // Errors surface in the collection's own failure; an unheard 'error' event would end the process.
      queue.on('error', () => {})
      queues.set(name, queue)
    }
    return queue
  }
  return {
    name: 'queues',
    metrics: [jobs, oldest],
    async collect() {
      const now = Date.now()
      const read = await Promise.all(
        deps.lanes.map(async ({ stream, queue }) => {
          const q = queueOf(queue)
          // getWaiting(0, 0) is the job taken next: the one waiting longest.
          const [counts, [first]] = await Promise.all([q.getJobCounts(...QUEUE_STATES), q.getWaiting(0, 0)])
          const dueAt = first ? first.timestamp + (first.opts.delay ?? 0) : now
          return { stream, counts, age: Math.max(0, now - dueAt) / 1000 }
        }),
      )
      for (const { stream, counts, age } of read) {
        for (const state of QUEUE_STATES) jobs.set({ stream, state }, counts[state] ?? 0)
        oldest.set({ stream }, age)
      }
    },
    reset() {
      jobs.reset()
      oldest.reset()
    },
    async close() {
      // Bounded: with Redis away BullMQ would wait for it for ever.
      await withTimeout(Promise.all([...queues.values()].map((q) => q.close())), 2_000, 'closing the metrics queues').catch(() => {})
    },
  }
}

/** Provider profiles shown at most: the configured ones, far fewer; the rest are left out. */
const MAX_DESTINATIONS = 50

export interface DestinationState {
  destination: string
  pausedUntil: Date | null
  concurrency: number
  heldRecipientDomains: number
}

/** The throttle state of each provider profile (never of single recipient domains: unbounded). */
export function createDestinationCollector(overview: () => Promise<DestinationState[]>): Collector {
  const paused = gauge('hikyaku_destination_paused', 'Whether a provider profile is paused after a throttling reply (1) or not (0)', [
    'destination',
  ])
  const remaining = gauge('hikyaku_destination_pause_remaining_seconds', "Time left in a provider profile's pause (0: not paused)", [
    'destination',
  ])
  const factor = gauge(
    'hikyaku_destination_concurrency_factor',
    "Share of a provider profile's connections allowed now (1: all; below 1 while it recovers from throttling)",
    ['destination'],
  )
  const held = gauge('hikyaku_destination_held_recipient_domains', 'Recipient domains held at a provider profile by a reply rule', [
    'destination',
  ])
  const all = [paused, remaining, factor, held]
  return {
    name: 'destinations',
    metrics: all,
    async collect() {
      const states = (await overview()).slice(0, MAX_DESTINATIONS)
      const now = Date.now()
      // Set afresh: a profile no longer configured disappears.
      for (const g of all) g.reset()
      for (const s of states) {
        const labels = { destination: s.destination }
        const left = s.pausedUntil ? Math.max(0, s.pausedUntil.getTime() - now) / 1000 : 0
        paused.set(labels, left > 0 ? 1 : 0)
        remaining.set(labels, left)
        factor.set(labels, s.concurrency)
        held.set(labels, s.heldRecipientDomains)
      }
    },
    reset() {
      for (const g of all) g.reset()
    },
  }
}

/** Backlog counts stop at this many: beyond it the number matters less than the cost of counting. */
export const WEBHOOK_BACKLOG_CAP = 100_000

/** The webhook deliveries waiting, and how long the longest-waiting due one has waited. */
export function createWebhookBacklogCollector(
  backlog: (cap: number) => Promise<{ pending: number; due: number; oldestDueSeconds: number }>,
): Collector {
  const pending = gauge(
    'hikyaku_webhook_backlog',
    `Webhook deliveries not over yet (pending, or being sent), counted up to ${WEBHOOK_BACKLOG_CAP}`,
  )
  const due = gauge('hikyaku_webhook_backlog_due', `Webhook deliveries due now, counted up to ${WEBHOOK_BACKLOG_CAP}`)
  const oldest = gauge('hikyaku_webhook_oldest_due_seconds', 'How long the longest-waiting due webhook delivery has been due (0: none)')
  return {
    name: 'webhooks',
    metrics: [pending, due, oldest],
    async collect() {
      const b = await backlog(WEBHOOK_BACKLOG_CAP)
      pending.set(b.pending)
      due.set(b.due)
      oldest.set(Math.max(0, b.oldestDueSeconds))
    },
    reset() {
      for (const g of [pending, due, oldest]) g.reset()
    },
  }
}
