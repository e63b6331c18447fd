import type { Logger } from '../../infra/logger.js'
import type { DeliveryJob, Dispatcher } from './dispatch.port.js'
import type { DeliveryMetrics } from './metrics.port.js'
import type { SweeperRepository } from './sweeper.repository.js'

const PAGE = 1000
const FIRST_ID = '00000000-0000-0000-0000-000000000000'

export interface SweepStats {
  ran: boolean
  expired: number
  promoted: number
  redispatched: number
}

/**
 * The sweeper makes Redis rebuildable (C2) and keeps C3 and C7: it expires what outlived
 * MAX_DELIVERY_AGE, promotes due scheduled recipients, and re-dispatches every due recipient whose
 * job is missing from its lane, including those whose worker died mid-send (only missing jobs are
 * added: a deep backlog's waiting jobs are looked up by key, not re-added one by one). One process at a time sweeps, under a Postgres advisory lock;
 * the lock covers only database work, so a slow or absent Redis never holds up sweeping.
 */
export function createSweeper(deps: {
  repository: SweeperRepository
  dispatcher: Dispatcher
  logger: Logger
  graceMs: number
  maxPages?: number
  /** How long inbound reports and webhook logs are kept (LOG_RETENTION). */
  logRetentionMs?: number
  /** Told what each sweep did (the process's metrics). */
  metrics?: Pick<DeliveryMetrics, 'swept'>
}) {
  const { repository, dispatcher, logger } = deps
  const counted = (stats: SweepStats): SweepStats => {
    deps.metrics?.swept(stats)
    return stats
  }
  const maxPages = deps.maxPages ?? 20
  // Where the next sweep resumes when the last one stopped at its page cap, so a backlog larger
  // than one sweep is walked through instead of re-reading its head every time.
  let resumeAfter = FIRST_ID

  const paged = async (step: (limit: number) => Promise<number>): Promise<number> => {
    let total = 0
    for (let page = 0; page < maxPages; page++) {
      const n = await step(PAGE)
      total += n
      if (n < PAGE) break
    }
    return total
  }

  async function collectDue(): Promise<DeliveryJob[]> {
    const due: DeliveryJob[] = []
    let after = resumeAfter
    for (let page = 0; page < maxPages; page++) {
      const rows = await repository.dueDeliveries(deps.graceMs, after, PAGE)
      due.push(...rows)
      if (rows.length < PAGE) {
        resumeAfter = FIRST_ID
        return due
      }
      after = (rows[rows.length - 1] as { deliveryId: string }).deliveryId
    }
    resumeAfter = after
    return due
  }

  return {
    async sweep(): Promise<SweepStats> {
      const unlock = await repository.tryLock()
      if (!unlock) return counted({ ran: false, expired: 0, promoted: 0, redispatched: 0 })
      let expired = 0
      let promoted = 0
      let due: DeliveryJob[] = []
      try {
        expired = await paged((limit) => repository.expireOverdue(limit))
        promoted = await paged((limit) => repository.promoteScheduled(limit))
        due = await collectDue()
        await repository.deleteExpiredIdempotencyRecords()
      } finally {
        await unlock()
      }
      const redispatched = due.length > 0 ? await dispatcher.redispatch(due) : 0
      // Old reports and webhook logs go in small batches, after the sweep's own work and apart
      // from it: a slow delete must never hold up re-dispatching or the takeover of lapsed leases.
      if (deps.logRetentionMs) {
        await repository
          .deleteOldLogs(deps.logRetentionMs, 1_000)
          .catch((err: unknown) => logger.warn({ err: String(err) }, 'could not delete old reports and webhook logs'))
      }
      if (expired + redispatched > 0) logger.info({ expired, promoted, redispatched }, 'sweep')
      return counted({ ran: true, expired, promoted, redispatched })
    },
  }
}

export type Sweeper = ReturnType<typeof createSweeper>
