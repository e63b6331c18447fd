import type { Container } from '../container.js'
import { startRetention } from '../modules/retention/retention.loop.js'
import { startStatsRollup } from '../modules/stats/stats.rollup.js'
import { startDeliveryWorker } from '../queue/delivery.worker.js'
import { startHousekeeping } from '../queue/housekeeping.js'
import type { Stop } from './lifecycle.js'

const REDIS_GRACE_MS = 3_000
/** How often the statistics rollup looks for new events: stats lag the events by about this. */
const STATS_ROLLUP_INTERVAL_MS = 1_000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref())

/**
 * Starts delivery and housekeeping. Stopping takes no new jobs and lets running attempts finish
 * within SHUTDOWN_TIMEOUT; then the transactions still going are cut: claims that never reached
 * the final dot go back to the queue at once, the others are recorded as possible duplicates.
 */
export async function startWorker(container: Container): Promise<Stop> {
  const { config, logger } = container
  const parts = container.deliveryParts()
  const worker = startDeliveryWorker({
    redisUrl: config.redisUrl,
    prefix: config.bullmqPrefix,
    streams: config.streams,
    deliveries: parts.service,
    logger: logger.child({ component: 'worker' }),
  })
  if (config.env === 'production' && new URL(config.publicUrl).hostname === 'localhost') {
    logger.warn(
      'PUBLIC_URL is not set: the one-click unsubscribe links of broadcast mail point at localhost; set it to the address recipients reach the API at',
    )
  }
  const housekeeping = startHousekeeping(parts.sweeper, config.sweepIntervalMs, logger.child({ component: 'housekeeping' }))
  const rollup = startStatsRollup(container.services.stats, STATS_ROLLUP_INTERVAL_MS, logger.child({ component: 'stats' }))
  const retention = startRetention(container.services.retention, logger.child({ component: 'retention' }))
  // A first sweep right away: picks up whatever was left while no worker ran.
  void parts.sweeper.sweep().catch((err) => logger.warn({ err: String(err) }, 'initial sweep failed'))
  logger.info(
    { streams: config.streams.map((s) => `${s.name}(${s.kind}, ${s.concurrency})`).join(' '), relay: parts.relay },
    'delivery worker started',
  )
  return async () => {
    // Deliveries start stopping at once; a sweep in progress (slow on a stalled database) must
    // not hold that up.
    const delivering = parts.service.stop(config.shutdownTimeoutMs)
    const sweeping = Promise.all([housekeeping.stop(), rollup.stop(), retention.stop()])
    // Once every attempt has ended, BullMQ gets a moment to hand its jobs back; with Redis away it
    // never could, and the jobs are rebuilt by the sweeper anyway.
    await Promise.all([worker.close(delivering.then(() => sleep(REDIS_GRACE_MS))), delivering, sweeping])
  }
}
