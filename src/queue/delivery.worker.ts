import { DelayedError, Worker } from 'bullmq'
import type { Logger } from '../infra/logger.js'
import { createWorkerRedis } from '../infra/redis.js'
import type { DeliveryService } from '../modules/delivery/delivery.service.js'
import type { StreamSpec } from '../modules/streams/streams.js'
import { type DeliveryJobData, laneQueueName } from './delivery.queue.js'

export interface DeliveryWorkerOptions {
  redisUrl: string
  prefix: string
  /** One BullMQ worker per stream's lane, with the lane's concurrency and rate cap. */
  streams: StreamSpec[]
  deliveries: Pick<DeliveryService, 'attempt'>
  logger: Logger
}

/**
 * Consumes delivery jobs. The job is only a trigger: claims in Postgres decide what is sent, so a
 * duplicated or resurrected job does nothing. A job completes once its outcome is committed;
 * retries are new delayed jobs, never BullMQ's own retry.
 */
export function startDeliveryWorker(options: DeliveryWorkerOptions): {
  workers: Worker<DeliveryJobData>[]
  /**
   * Takes no new jobs and resolves once the active ones have ended (the delivery service bounds
   * them) — or, with `giveUp` settled first, at once: BullMQ needs Redis to finish closing.
   */
  close(giveUp?: Promise<unknown>): Promise<void>
} {
  const { logger } = options
  // Waits out Redis outages; BullMQ duplicates it for its blocking reads.
  const connection = createWorkerRedis(options.redisUrl, logger)
  const start = (lane: StreamSpec) => {
    const worker = new Worker<DeliveryJobData>(
      laneQueueName(lane.name),
      async (job, token) => {
        const summary = await options.deliveries.attempt({
          deliveryId: job.data.deliveryId,
          attempt: job.data.attempt,
          route: job.data.route,
          size: job.data.size,
          sender: job.data.sender,
          stream: lane.name,
          // When the job first became due; a busy destination's back-off grows with the wait since.
          waitingSince: job.timestamp + (job.opts.delay ?? 0),
        })
        if (summary.delayUntil) {
          // The destination cannot take it now: the job waits in Redis, not in a worker slot.
          await job.moveToDelayed(summary.delayUntil, token)
          throw new DelayedError()
        }
        if (summary.claimed > 0) logger.debug({ jobId: job.id, ...summary }, 'delivery attempt finished')
        return summary.claimed
      },
      {
        connection,
        prefix: options.prefix,
        concurrency: lane.concurrency,
        limiter: lane.rate ? { max: lane.rate.max, duration: lane.rate.durationMs } : undefined,
        removeOnComplete: { count: 0 },
        removeOnFail: { count: 0 },
      },
    )
    worker.on('error', (err) => logger.warn({ err: err.message, stream: lane.name }, 'delivery worker error'))
    worker.on('failed', (job, err) =>
      logger.error({ jobId: job?.id, err, stream: lane.name }, 'delivery job failed; the sweeper will retry it'),
    )
    return worker
  }
  // Several streams may share a queue only if misconfigured; each queue gets one worker.
  const lanes = [...new Map(options.streams.map((s) => [laneQueueName(s.name), s])).values()]
  const workers = lanes.map(start)
  return {
    workers,
    async close(giveUp) {
      const closing = Promise.all(workers.map((w) => w.close()))
      await (giveUp ? Promise.race([closing, giveUp]) : closing)
      connection.disconnect()
    },
  }
}
