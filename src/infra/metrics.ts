import { collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client'
import { TimeoutError, withTimeout } from '../lib/timeout.js'
import type { Logger } from './logger.js'
import type { Collector } from './metrics.collectors.js'
import { createDeliveryGroup, createHttpGroup, createInboundGroup, createSubmissionGroup, createWebhookGroup } from './metrics.groups.js'

export type { Collector } from './metrics.collectors.js'

/** The roles a process runs (`hikyaku all` runs them all). */
export type ProcessRole = 'api' | 'worker' | 'smtp' | 'inbound' | 'webhooks'

/** How long one scrape-time collection may take: a scrape never hangs on Redis or Postgres. */
export const COLLECT_TIMEOUT_MS = 2_000

const NAN = / Nan$/gm

/** A collector failure is logged at most this often (Prometheus scrapes every few seconds). */
const FAILURE_LOG_EVERY_MS = 60_000

/**
 * The process's metrics: one prom-client registry per process (never the global one, so that
 * tests may build several containers in one process), whatever roles it runs. Every group's
 * counters exist and count from the start; `expose` puts in the registry those of the roles the
 * process runs, so a worker does not show an API's series. Scrape-time collectors are added by
 * the process's metrics entry point (src/entrypoints/metrics.ts).
 */
export function createMetrics(options: { streams: readonly string[]; logger: Logger }) {
  const { logger } = options
  const registry = new Registry()
  const delivery = createDeliveryGroup(options.streams)
  const submission = createSubmissionGroup()
  const http = createHttpGroup()
  const webhooks = createWebhookGroup()
  const inbound = createInboundGroup()
  const byRole: Record<ProcessRole, Metric[]> = {
    api: http.metrics,
    worker: delivery.metrics,
    smtp: submission.metrics,
    inbound: inbound.metrics,
    webhooks: webhooks.metrics,
  }
  const info = new Gauge({
    name: 'hikyaku_process_info',
    help: 'Always 1; its labels say which process kind this is (api, worker, smtp, inbound, webhooks or all)',
    labelNames: ['kind'],
    registers: [],
  })
  const collectorUp = new Gauge({
    name: 'hikyaku_metrics_collector_up',
    help: `Whether the last scrape-time read of a collector succeeded within ${COLLECT_TIMEOUT_MS / 1000} s (1) or not (0, its series then left out)`,
    labelNames: ['collector'],
    registers: [],
  })
  const collectors: Collector[] = []
  const lastLogged = new Map<string, number>()
  let exposed = false
  let collecting: Promise<void> | undefined

  async function collectOne(c: Collector): Promise<void> {
    try {
      await withTimeout(c.collect(), COLLECT_TIMEOUT_MS, `collecting ${c.name} metrics`)
      collectorUp.set({ collector: c.name }, 1)
    } catch (err) {
      c.reset()
      collectorUp.set({ collector: c.name }, 0)
      if (Date.now() - (lastLogged.get(c.name) ?? 0) > FAILURE_LOG_EVERY_MS) {
        lastLogged.set(c.name, Date.now())
        logger.warn({ err: err instanceof TimeoutError ? err.message : String(err), collector: c.name }, 'metrics collection failed')
      }
    }
  }

  return {
    registry,
    contentType: registry.contentType,
    /** The hooks services call as things happen: each an addition to a number. */
    delivery: delivery.hooks,
    submission: submission.hooks,
    http: http.hooks,
    webhooks: webhooks.hooks,
    inbound: inbound.hooks,

    /**
     * Puts in the registry the metrics of `roles`, the process's own (`kind`) and Node's default
     * process metrics. Once per process: a second call changes nothing.
     */
    expose(kind: string, roles: readonly ProcessRole[]): void {
      if (exposed) return
      exposed = true
      for (const metric of [info, collectorUp, ...roles.flatMap((r) => byRole[r])]) registry.registerMetric(metric)
      info.set({ kind }, 1)
      collectDefaultMetrics({ register: registry })
    },

    /** Adds a scrape-time collector (its metrics go in the registry at once). */
    addCollector(collector: Collector): void {
      if (collectors.some((c) => c.name === collector.name)) throw new Error(`metrics collector ${collector.name} added twice`)
      for (const metric of collector.metrics) registry.registerMetric(metric)
      collectors.push(collector)
    },

    /**
     * The metrics in Prometheus text format, after a fresh read of every collector (each bounded
     * by COLLECT_TIMEOUT_MS). Scrapes that overlap share one read.
     */
    async scrape(): Promise<string> {
      // collectOne never rejects.
      collecting ??= Promise.all(collectors.map(collectOne)).then(() => {
        collecting = undefined
      })
      await collecting
      // prom-client writes NaN (an event-loop mean before any sample) as `Nan`, which strict readers refuse.
      return (await registry.metrics()).replace(NAN, ' NaN')
    },

    async close(): Promise<void> {
      await Promise.all(collectors.map((c) => c.close?.()))
    },
  }
}

export type Metrics = ReturnType<typeof createMetrics>
