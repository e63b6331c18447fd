import { isDatabaseUnavailable } from '../../infra/db.js'
import type { Logger } from '../../infra/logger.js'
import { createBatcher, type Settlement } from '../../lib/batcher.js'
import { AppError, unavailable } from '../../lib/errors.js'
import type { CommitCheck, EmailKey, NewEmailRows } from './email.repository.js'
import { markSuppressed } from './email.rows.js'

/** Bytes of messages one accept statement carries at most (a larger message goes alone). */
const MAX_BATCH_BYTES = 16 * 1024 * 1024

/** What the accept batcher needs of the email repository. */
export interface AcceptStore {
  /** Writes the batch in one statement, marking in it the recipients written as suppressed (`markSuppressed`). */
  insert(batch: NewEmailRows[]): Promise<void>
  /** After `insert` failed with the database unavailable: which emails committed, and whether that is final. */
  committedAfter(failure: unknown, emails: EmailKey[]): Promise<CommitCheck>
}

export const NOTHING_ACCEPTED = 'The database is unavailable; nothing was accepted. Retry shortly.'
export const MAYBE_ACCEPTED =
  'The database became unavailable while accepting this message, and whether it was committed is unknown. Retry shortly.'
export const OUTCOME_UNKNOWN_RETRY_WITH_KEY =
  'The database became unavailable while accepting this message, and whether it was committed is unknown. Retry with the same Idempotency-Key: a message that was committed is answered from its stored result, never accepted twice.'

/**
 * Group commit: concurrent submissions share one statement, and each caller's promise resolves
 * only after that statement has committed (C1). When a batch fails, `settleFailedAccept`
 * decides what each caller is told.
 */
export function createAcceptBatcher(deps: { store: AcceptStore; concurrency: number; logger: Logger }) {
  const { store, logger } = deps
  return createBatcher<NewEmailRows, void>({
    maxBatchSize: 200,
    concurrency: deps.concurrency,
    // Large messages commit alone instead of sharing (and bloating) a batch's statement.
    weight: (rows) => rows.email.size_bytes,
    maxBatchWeight: MAX_BATCH_BYTES,
    run: async (batch) => {
      await store.insert(batch)
      return batch.map(() => undefined)
    },
    onFailure: async (batch, err) => {
      const emails = batch.map((rows) => ({ id: rows.email.id, accountId: rows.email.account_id }))
      const decided = await settleFailedAccept(emails, err, async (failure, keys) => {
        const check = await store.committedAfter(failure, keys)
        // A committed message is answered from its rows: they say what the statement wrote.
        for (const rows of batch) {
          if (check.committed.has(rows.email.id)) markSuppressed(rows, (recipientId) => check.suppressed?.get(recipientId))
        }
        return check
      })
      if (decided !== 'isolate' && isAmbiguous(err)) {
        const committed = decided.filter((s) => s.ok).length
        logger.warn(
          { err, batch: emails.length, committed },
          'accept batch failed with the database unavailable; callers told from what was committed',
        )
      }
      return decided
    },
  })
}

export type AcceptBatcher = ReturnType<typeof createAcceptBatcher>

/**
 * What the callers of a failed accept statement are told.
 * - The database became unavailable (the repository's `unavailable`, or a raw connection-class
 *   error: a reset, a client query timeout): the statement may have committed with its
 *   acknowledgement lost, or be committing still. Re-running it item by item would turn
 *   committed mail into duplicate-key failures, and against a dead database would wait out
 *   one connect timeout per item. So the store settles it once (`committedAfter`: the
 *   statement's backend is ended and waited for, then the ids are looked up): committed
 *   messages succeed; the others get 503 saying nothing was accepted only when that is final,
 *   and saying the outcome is unknown otherwise (the backend could not be seen to exit, or the
 *   question itself failed).
 * - Anything else: the batch is re-run item by item (`isolate`) so one bad item fails only its
 *   caller, and an item alone that fails on its own email id's primary key was committed
 *   earlier (by the batch whose acknowledgement was lost): success.
 */
export async function settleFailedAccept(
  emails: EmailKey[],
  err: unknown,
  committedAfter: (failure: unknown, emails: EmailKey[]) => Promise<CommitCheck>,
): Promise<Settlement<void>[] | 'isolate'> {
  if (isAmbiguous(err)) {
    let check: CommitCheck
    try {
      check = await committedAfter(err, emails)
    } catch (checkErr) {
      return emails.map(() => ({ ok: false, error: unavailable(MAYBE_ACCEPTED, 5, checkErr) }))
    }
    const notCommitted = check.final ? NOTHING_ACCEPTED : MAYBE_ACCEPTED
    return emails.map((e) =>
      check.committed.has(e.id) ? { ok: true, value: undefined } : { ok: false, error: unavailable(notCommitted, 5, err) },
    )
  }
  const [only] = emails
  if (emails.length === 1 && only && isOwnEmailDuplicate(err, only.id)) return [{ ok: true, value: undefined }]
  return 'isolate'
}

const isAmbiguous = (err: unknown): boolean => (err instanceof AppError ? err.code === 'unavailable' : isDatabaseUnavailable(err))

/** A unique violation of `emails_pkey` naming this very id: the row is there already. */
export function isOwnEmailDuplicate(err: unknown, id: string): boolean {
  const e = err as { code?: string; constraint?: string; detail?: string } | undefined
  return e?.code === '23505' && e.constraint === 'emails_pkey' && (e.detail ?? '').includes(id)
}
