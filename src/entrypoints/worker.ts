import type { Container } from '../container.js'
import { startDeliveryWorker } from '../queue/delivery.worker.js'
import { startHousekeeping } from '../queue/housekeeping.js'
import type { Stop } from './lifecycle.js'

/**
 * Starts delivery and housekeeping. Stopping takes no new jobs, lets running attempts finish
 * (bounded by SHUTDOWN_TIMEOUT); an attempt cut off then keeps its lease, and the sweeper
 * hands it to another worker once the lease expires.
 */
export async function startWorker(container: Container): Promise<Stop> {
  const { config, logger } = container
  const parts = container.deliveryParts()
  const worker = startDeliveryWorker({
    redisUrl: config.redisUrl,
    prefix: config.bullmqPrefix,
    concurrency: config.workerConcurrency,
    deliveries: parts.service,
    logger: logger.child({ component: 'worker' }),
  })
  const housekeeping = startHousekeeping(parts.sweeper, config.sweepIntervalMs, logger.child({ component: 'housekeeping' }))
  // A first sweep right away: picks up whatever was left while no worker ran.
  void parts.sweeper.sweep().catch((err) => logger.warn({ err: String(err) }, 'initial sweep failed'))
  logger.info({ concurrency: config.workerConcurrency, relay: parts.relay }, 'delivery worker started')
  return async () => {
    await housekeeping.stop()
    const forced = setTimeout(() => void worker.worker.close(true).catch(() => {}), config.shutdownTimeoutMs)
    await worker.close()
    clearTimeout(forced)
  }
}
