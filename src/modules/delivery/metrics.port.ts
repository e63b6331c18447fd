import type { RecordedOutcome } from './delivery.types.js'
import type { SweepStats } from './sweeper.js'

/**
 * What delivery tells the process's metrics (src/infra/metrics.groups.ts implements it). Called on
 * the worker's hot path, per attempt: each method only adds to counters, and never throws.
 */
export interface DeliveryMetrics {
  /** Recipients claimed for an attempt in a stream's lane; those `takenOver` had a lapsed lease. */
  claimed(stream: string, recipients: ReadonlyArray<{ takenOver?: boolean }>): void
  /** The outcomes of one attempt, as recorded under its claim. */
  recorded(stream: string, outcomes: ReadonlyArray<Pick<RecordedOutcome, 'status' | 'bounceCategory'>>): void
  /** What one sweep did (`ran` false: another process held the sweeper's lock). */
  swept(stats: SweepStats): void
}
