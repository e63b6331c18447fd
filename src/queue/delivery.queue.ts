import { Queue } from 'bullmq'
import type { Logger } from '../infra/logger.js'
import type { Redis } from '../infra/redis.js'
import { createBatcher } from '../lib/batcher.js'
import { withTimeout } from '../lib/timeout.js'
import type { DeliveryJob, Dispatcher } from '../modules/delivery/dispatch.port.js'

export const DELIVERY_QUEUE = 'delivery'

/**
 * The queue of a stream's lane: `delivery` for transactional mail (the queue every job used before
 * streams had lanes, so jobs queued then still run), `delivery-<stream>` for the others. A stream
 * no longer configured falls back to the transactional lane rather than strand its mail.
 */
export const laneQueueName = (stream: string | undefined, known?: (name: string) => boolean): string =>
  !stream || stream === 'transactional' || (known && !known(stream)) ? DELIVERY_QUEUE : `${DELIVERY_QUEUE}-${stream}`

/** Job data: ids only. Message bodies and credentials never enter Redis. */
export interface DeliveryJobData {
  deliveryId: string
  attempt: number
  /** `relay` or the recipient domain (not message content): pacing needs it before the claim. */
  route?: string
  /** Bytes of the message (a number, not content), so a worker can budget memory before claiming. */
  size?: number
  /** `<account id>/<From domain>` of an MX delivery: a held sender waits before claiming. */
  sender?: string
}

/**
 * `dlv-<delivery>-<attempt>`: enqueueing the same attempt twice is a no-op, and a later attempt
 * is never mistaken for an earlier, finished one. (BullMQ ids must not be integer-like or hold ':'.)
 */
export const deliveryJobId = (deliveryId: string, attempt: number): string => `dlv-${deliveryId}-${attempt}`

const BACKLOG_CACHE_MS = 250
/**
 * Longest a producer waits on Redis. BullMQ waits for a connection that is not ready yet (a
 * process started while Redis was down) without limit; a send must answer within a bounded
 * time whatever Redis does (C1), and the sweeper enqueues what did not make it.
 */
const REDIS_CALL_TIMEOUT_MS = 2_000
const USABLE = new Set(['ready', 'connect', 'connecting'])
/** Job keys looked up per pipelined round trip by the sweeper's re-dispatch. */
const EXISTS_CHUNK = 1_000

/**
 * The producer side: adds delivery jobs to their stream's queue in pipelined bulk adds, and
 * reports the transactional lane's waiting backlog (admission control protects that lane; a
 * broadcast backlog is expected to be deep and waits in its own).
 */
export function createDeliveryDispatcher(deps: {
  redis: Redis
  prefix: string
  logger: Logger
  /** Configured stream names: a job of any other goes to the transactional lane. */
  streams?: (name: string) => boolean
}): Dispatcher & { close(): Promise<void> } {
  const queues = new Map<string, Queue<DeliveryJobData>>()
  const queueOf = (stream: string | undefined): Queue<DeliveryJobData> => {
    const name = laneQueueName(stream, deps.streams)
    let queue = queues.get(name)
    if (!queue) {
      queue = new Queue<DeliveryJobData>(name, { connection: deps.redis, prefix: deps.prefix })
      queue.on('error', (err) => deps.logger.warn({ err: err.message, queue: name }, 'delivery queue error'))
      queues.set(name, queue)
    }
    return queue
  }
  const queue = queueOf(undefined)

  const adder = createBatcher<DeliveryJob, void>({
    maxBatchSize: 500,
    concurrency: 2,
    run: async (jobs) => {
      // Reconnecting means Redis is away: fail at once, the sweeper enqueues later.
      if (!USABLE.has(deps.redis.status)) throw new Error(`Redis is not connected (${deps.redis.status})`)
      const now = Date.now()
      const byQueue = new Map<Queue<DeliveryJobData>, DeliveryJob[]>()
      for (const job of jobs) {
        const q = queueOf(job.stream)
        const some = byQueue.get(q)
        if (some) some.push(job)
        else byQueue.set(q, [job])
      }
      const adding = [...byQueue].map(([q, some]) =>
        q.addBulk(
          some.map((job) => ({
            name: 'attempt',
            data: { deliveryId: job.deliveryId, attempt: job.attempt, route: job.route, size: job.size, sender: job.sender },
            opts: {
              jobId: deliveryJobId(job.deliveryId, job.attempt),
              delay: job.runAt ? Math.max(0, job.runAt.getTime() - now) : undefined,
              removeOnComplete: true,
              removeOnFail: true,
            },
          })),
        ),
      )
      await withTimeout(Promise.all(adding), REDIS_CALL_TIMEOUT_MS, 'adding delivery jobs')
      return jobs.map(() => undefined)
    },
  })

  let backlogCache = { at: 0, value: 0 }
  let refreshing = false
  return {
    async dispatch(jobs) {
      await Promise.all(jobs.map((job) => adder.push(job)))
    },
    async redispatch(jobs) {
      if (!USABLE.has(deps.redis.status)) throw new Error(`Redis is not connected (${deps.redis.status})`)
      const missing: DeliveryJob[] = []
      for (let i = 0; i < jobs.length; i += EXISTS_CHUNK) {
        const chunk = jobs.slice(i, i + EXISTS_CHUNK)
        const pipeline = deps.redis.pipeline()
        for (const job of chunk) pipeline.exists(queueOf(job.stream).toKey(deliveryJobId(job.deliveryId, job.attempt)))
        const found = await withTimeout(pipeline.exec(), REDIS_CALL_TIMEOUT_MS, 'looking for delivery jobs')
        // An unanswered check counts as missing: re-adding an existing job id is a no-op.
        chunk.forEach((job, k) => {
          const [err, n] = found?.[k] ?? [null, 0]
          if (err || n !== 1) missing.push(job)
        })
      }
      await Promise.all(missing.map((job) => adder.push(job)))
      return missing.length
    },
    async backlog() {
      // Refreshed at most a few times a second per process, in the background: a request never
      // waits on Redis for it (while Redis is connecting, a count waits for the connection up to
      // its timeout), and an unreachable Redis counts as no change.
      if (Date.now() - backlogCache.at > BACKLOG_CACHE_MS && !refreshing && USABLE.has(deps.redis.status)) {
        refreshing = true
        backlogCache.at = Date.now()
        withTimeout(queue.getWaitingCount(), REDIS_CALL_TIMEOUT_MS, 'counting waiting jobs')
          .then(
            (value) => {
              backlogCache = { at: Date.now(), value }
            },
            () => {},
          )
          .finally(() => {
            refreshing = false
          })
      }
      return backlogCache.value
    },
    async withdraw(jobs) {
      if (!USABLE.has(deps.redis.status)) return
      for (let i = 0; i < jobs.length; i += 500) {
        const chunk = jobs.slice(i, i + 500)
        // An active (locked) job is not removed: it is being worked on and will find nothing.
        const removing = Promise.all(
          chunk.map((j) =>
            queueOf(j.stream)
              .remove(deliveryJobId(j.deliveryId, j.attempt))
              .catch(() => 0),
          ),
        )
        await withTimeout(removing, REDIS_CALL_TIMEOUT_MS, 'withdrawing delivery jobs')
      }
    },
    async close() {
      await adder.drain()
      // Bounded: with Redis away BullMQ would wait for it for ever.
      await withTimeout(
        Promise.all([...queues.values()].map((q) => q.close())),
        REDIS_CALL_TIMEOUT_MS,
        'closing the delivery queues',
      ).catch(() => {})
    },
  }
}
