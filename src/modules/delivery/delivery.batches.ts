import { isDatabaseUnavailable } from '../../infra/db.js'
import type { Logger } from '../../infra/logger.js'
import { createBatcher } from '../../lib/batcher.js'
import type { DeliveryRepository } from './delivery.repository.js'
import type { ClaimedRecipient, ClaimRequest, EmailContent, HeldRecipient, RecordedOutcome } from './delivery.types.js'
import type { OutcomeRepository } from './outcome.repository.js'

export interface Claim {
  recipients: ClaimedRecipient[]
  email: EmailContent | undefined
}

/** Bytes of messages one claim statement returns at most (a larger message is claimed alone). */
const MAX_CLAIM_BYTES = 16 * 1024 * 1024
/** What a job that does not say its message's size is assumed to weigh. */
export const UNKNOWN_SIZE = 64 * 1024

/**
 * The worker's database traffic, batched: claims, lease renewals, DATA marks and outcome
 * records of many concurrent attempts each share one statement and one commit, and every
 * caller still resolves only once its own rows are written.
 */
export function createDeliveryBatches(deps: {
  repository: DeliveryRepository
  outcomes: OutcomeRepository
  logger: Logger
  /**
   * Concurrent claim batches, and record batches (database connections). DATA marks, one per
   * message but a small statement, get half as many; lease renewals, rare, one.
   */
  concurrency: number
}) {
  const { repository, outcomes, logger } = deps

  const claimer = createBatcher<ClaimRequest, Claim>({
    maxBatchSize: 200,
    concurrency: deps.concurrency,
    // Message content comes back with the claim: large messages are claimed alone.
    weight: (request) => request.size ?? UNKNOWN_SIZE,
    maxBatchWeight: MAX_CLAIM_BYTES,
    run: async (requests) => {
      const { recipients: claimed, emails } = await repository.claim(requests)
      return requests.map((_req, i) => {
        const recipients = claimed.filter((c) => c.request === i)
        return { recipients, email: recipients[0] ? emails.get(recipients[0].emailId) : undefined }
      })
    },
  })

  /** A batcher over a statement that takes held recipients and returns the ids still held. */
  const leaseBatcher = (concurrency: number, run: (held: HeldRecipient[]) => Promise<Set<string>>) =>
    createBatcher<HeldRecipient[], Set<string>>({
      maxBatchSize: 100,
      concurrency,
      run: async (groups) => {
        const still = await run(groups.flat())
        return groups.map(() => still)
      },
    })
  const renewer = leaseBatcher(1, (held) => repository.renewLeases(held))
  const marker = leaseBatcher(Math.max(1, Math.ceil(deps.concurrency / 2)), (held) => repository.markData(held))

  const recorder = createBatcher<RecordedOutcome[], Set<string>>({
    maxBatchSize: 100,
    concurrency: deps.concurrency,
    run: async (groups) => {
      const updated = await outcomes.record(groups.flat())
      return groups.map(() => updated)
    },
    // A record the database refuses for its content must fail only its own attempt, not every
    // attempt that shared its statement; a database that is away fails them all (and they retry).
    onFailure: async (groups, err) => (isDatabaseUnavailable(err) ? groups.map(() => ({ ok: false as const, error: err })) : 'isolate'),
  })

  /**
   * Runs `write` again after the database failed it, with backoff, while `keepTrying()` allows.
   * Any other error (the database refusing the data) would fail again the same way: it is thrown.
   */
  async function retrying<T>(write: () => Promise<T>, keepTrying: () => boolean): Promise<T> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await write()
      } catch (err) {
        if (!isDatabaseUnavailable(err) || !keepTrying()) throw err
        logger.warn({ err: String(err), retryInMs: delay }, 'could not record a delivery outcome; retrying')
        await new Promise((resolve) => setTimeout(resolve, delay))
      }
    }
  }

  /** The ids of `held` found in a batch's answer: another caller's rows are not ours to count. */
  const ours = (held: HeldRecipient[], still: Set<string>) =>
    new Set(held.filter((h) => still.has(h.recipientId)).map((h) => h.recipientId))

  return {
    claim: (request: ClaimRequest) => claimer.push(request),
    renew: async (held: HeldRecipient[]) => ours(held, await renewer.push(held)),
    markData: async (held: HeldRecipient[]) => ours(held, await marker.push(held)),
    /** Rare (shutdown only): not batched. */
    release: (held: HeldRecipient[]) => repository.release(held),

    /**
     * The SMTP outcome is known: losing it to a passing database error would send the message
     * again once the lease runs out. So the write is retried, with backoff, while `keepTrying()`
     * says the claim may still be ours. A success whose claim had lapsed is recorded as late.
     */
    async record(records: RecordedOutcome[], keepTrying: () => boolean): Promise<Set<string>> {
      const held = records.map((r) => ({ recipientId: r.recipientId, attempt: r.attempt, attemptId: r.attemptId }))
      const updated = ours(held, await retrying(() => recorder.push(records), keepTrying))
      const late = records.filter((r) => !updated.has(r.recipientId) && (r.status === 'sent' || r.status === 'delivered'))
      if (late.length > 0) {
        logger.warn({ recipients: late.map((r) => r.recipientId) }, 'a success arrived after its claim had lapsed; recording it')
        await retrying(() => outcomes.recordLate(late), keepTrying)
      }
      return updated
    },

    /** Waits for every batch in flight (graceful shutdown). */
    async drain(): Promise<void> {
      await Promise.all([claimer.drain(), renewer.drain(), marker.drain(), recorder.drain()])
    },
  }
}

export type DeliveryBatches = ReturnType<typeof createDeliveryBatches>
