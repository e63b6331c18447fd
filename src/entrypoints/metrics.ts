import type { Container } from '../container.js'
import {
  createDestinationCollector,
  createPostgresCollector,
  createQueueCollector,
  createRedisCollector,
  createWebhookBacklogCollector,
} from '../infra/metrics.collectors.js'
import type { ProcessRole } from '../infra/metrics.js'
import { type MetricsServer, startMetricsServer } from '../infra/metrics.server.js'
import { laneQueueName } from '../queue/delivery.queue.js'

/** METRICS_PORT unset: each process kind has a port of its own, so that they may share a host. */
export const DEFAULT_METRICS_PORTS: Record<string, number> = {
  api: 9464,
  all: 9464,
  worker: 9465,
  smtp: 9466,
  inbound: 9467,
  webhooks: 9468,
}

/** `all` for a process running several roles, else its one role. */
export const processKind = (roles: readonly ProcessRole[]): string => (roles.length === 1 ? (roles[0] as string) : 'all')

export interface MetricsEndpoint {
  /** The listener, or undefined when it could not listen (it was logged; the process serves on). */
  listener: MetricsServer | undefined
  stop(): Promise<void>
}

/**
 * The metrics and health listener of a process: once per process, whatever roles it runs (`hikyaku
 * all` shows every role's metrics on one port). It shows the metrics of `roles`, the pools' and
 * Redis's health, and the scrape-time state those roles care about: queues and destinations for
 * a worker, the webhook backlog for the webhook sender. It never throws: a process serves on
 * without metrics rather than stop over them.
 */
export async function startMetrics(container: Container, roles: readonly ProcessRole[]): Promise<MetricsEndpoint> {
  const { config, metrics, logger } = container
  const kind = processKind(roles)
  try {
    metrics.expose(kind, roles)
    metrics.addCollector(createPostgresCollector(container.pool))
    metrics.addCollector(createRedisCollector(container.redis))
    if (roles.includes('worker')) {
      // One gauge set per queue: streams that share a lane (only when misconfigured) show once.
      const lanes = [...new Map(config.streams.map((s) => [laneQueueName(s.name), s.name])).entries()]
      metrics.addCollector(
        createQueueCollector({
          redis: container.redis,
          prefix: config.bullmqPrefix,
          lanes: lanes.map(([queue, stream]) => ({ queue, stream })),
        }),
      )
      metrics.addCollector(createDestinationCollector(() => container.services.destinations.overview()))
    }
    if (roles.includes('webhooks')) {
      metrics.addCollector(createWebhookBacklogCollector((cap) => container.webhookParts.webhooks.backlog(cap)))
    }
    const listener = await startMetricsServer({
      host: config.metricsHost,
      port: config.metricsPort ?? DEFAULT_METRICS_PORTS[kind] ?? 9464,
      token: config.metricsToken,
      kind,
      scrape: () => metrics.scrape(),
      contentType: metrics.contentType,
      ready: container.checkReady,
      logger: logger.child({ component: 'metrics' }),
    })
    return {
      listener,
      async stop() {
        await listener?.close()
        await metrics.close()
      },
    }
  } catch (err) {
    logger.error({ err }, 'metrics could not be set up; this process runs on without /metrics and /healthz')
    return { listener: undefined, stop: () => metrics.close() }
  }
}
