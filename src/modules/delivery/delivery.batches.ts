import { isDatabaseUnavailable, isDataError, sqlState } from '../../infra/db.js'
import type { Logger } from '../../infra/logger.js'
import { createBatcher } from '../../lib/batcher.js'
import type { DeliveryRepository } from './delivery.repository.js'
import type { ClaimedRecipient, ClaimRequest, EmailContent, HeldRecipient, RecordedOutcome } from './delivery.types.js'
import type { OutcomeRepository } from './outcome.repository.js'

export interface Claim {
  recipients: ClaimedRecipient[]
  email: EmailContent | undefined
}

/** A failure worth waiting out: the database away or stalled, or any server error but refused data. */
const isPassing = (err: unknown): boolean => isDatabaseUnavailable(err) || (/^[0-9A-Z]{5}$/.test(sqlState(err)) && !isDataError(err))

/** An outcome without any text from outside: what is left when the full one cannot be stored. */
const bareRecord = (r: RecordedOutcome): RecordedOutcome => ({
  ...r,
  reply: null,
  enhancedCode: null,
  remoteHost: null,
  remoteIp: null,
  tlsVersion: null,
  tlsCipher: null,
  eventData: { attempt: r.attempt },
})

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
   * Concurrent claim batches, and record batches (database connections). DATA marks (one small
   * statement each, so they batch only while one is in flight) and lease renewals get one each.
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
      const { recipients: claimed, emails, quiet } = await repository.claim(requests)
      // Rare (recipients suppressed at claim, none claimed): their emails' status is recomputed
      // from all their recipients under the email's lock. The claim is committed either way; a
      // database away is waited out a little, past that the status stays as it was.
      if (quiet.length > 0) {
        await retrying(() => repository.refreshStatuses(quiet), deadline(30_000)).catch((err) =>
          logger.warn({ err: String(err), emails: quiet }, 'could not recompute the status of emails after a claim'),
        )
      }
      return requests.map((_req, i) => {
        const recipients = claimed.filter((c) => c.request === i)
        return { recipients, email: recipients[0] ? emails.get(recipients[0].emailId) : undefined }
      })
    },
  })

  /**
   * A batcher over a statement that takes held recipients and returns the ids still held. Two
   * such statements (a renewal, a DATA mark) may lock the same rows in another order: a deadlock
   * is simply run again.
   */
  const leaseBatcher = (concurrency: number, run: (held: HeldRecipient[]) => Promise<Set<string>>) =>
    createBatcher<HeldRecipient[], Set<string>>({
      maxBatchSize: 100,
      concurrency,
      run: async (groups) => {
        for (let attempt = 1; ; attempt++) {
          try {
            const still = await run(groups.flat())
            return groups.map(() => still)
          } catch (err) {
            if (attempt >= 3 || (err as { code?: string }).code !== '40P01') throw err
          }
        }
      },
    })
  const renewer = leaseBatcher(1, (held) => repository.renewLeases(held))
  const marker = leaseBatcher(1, (held) => repository.markData(held))

  const recorder = createBatcher<RecordedOutcome[], Set<string>>({
    maxBatchSize: 100,
    concurrency: deps.concurrency,
    run: async (groups) => {
      const updated = await outcomes.record(groups.flat())
      return groups.map(() => updated)
    },
    // A record the database refuses for its content must fail only its own attempt, not every
    // attempt that shared its statement; any other failure fails them all (and they retry).
    onFailure: async (groups, err) => (isDataError(err) ? 'isolate' : groups.map(() => ({ ok: false as const, error: err }))),
  })

  /**
   * Runs `write` again after the database failed it (away, stalled, out of memory, a lock), with
   * backoff, while `keepTrying()` allows. Data the database refuses would fail again the same way:
   * that is thrown.
   */
  async function retrying<T>(write: () => Promise<T>, keepTrying: () => boolean): Promise<T> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await write()
      } catch (err) {
        if (!isPassing(err) || !keepTrying()) throw err
        logger.warn({ err: String(err), retryInMs: delay }, 'could not record a delivery outcome; retrying')
        await new Promise((resolve) => setTimeout(resolve, delay))
      }
    }
  }

  const deadline = (ms: number) => {
    const until = Date.now() + ms
    return () => Date.now() < until
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
    holdBack: (held: HeldRecipient[], until: Date, reason: string) => repository.holdBack(held, until, reason),

    /**
     * The SMTP outcome is known: losing it to a passing database error would send the message
     * again once the lease runs out. So the write is retried, with backoff, while `keepTrying()`
     * says the claim may still be ours. A success whose claim had lapsed is recorded as late.
     */
    async record(records: RecordedOutcome[], keepTrying: () => boolean): Promise<Set<string>> {
      const held = records.map((r) => ({ recipientId: r.recipientId, attempt: r.attempt, attemptId: r.attemptId }))
      const write = (rs: RecordedOutcome[]) => retrying(() => recorder.push(rs), keepTrying)
      const updated = ours(
        held,
        await write(records).catch((err) => {
          if (!isDataError(err)) throw err
          // The outcome is known and must not be lost to a value the database refuses (a sent
          // message would be sent again): it is stored without what the remote said.
          logger.error({ err, recipients: held.map((h) => h.recipientId) }, 'an outcome was refused by the database; recording it bare')
          return write(records.map(bareRecord))
        }),
      )
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
