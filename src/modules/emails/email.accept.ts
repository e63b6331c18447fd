import { isDatabaseUnavailable } from '../../infra/db.js'
import type { Logger } from '../../infra/logger.js'
import { createBatcher, type Settlement } from '../../lib/batcher.js'
import { AppError, unavailable } from '../../lib/errors.js'
import type { NewEmailRows } from './email.repository.js'

/** Bytes of messages one accept statement carries at most (a larger message goes alone). */
const MAX_BATCH_BYTES = 16 * 1024 * 1024

/** What the accept batcher needs of the email repository. */
export interface AcceptStore {
  insert(batch: NewEmailRows[]): Promise<void>
  existingIds(ids: string[]): Promise<Set<string>>
}

export const NOTHING_ACCEPTED = 'The database is unavailable; nothing was accepted. Retry shortly.'
export const MAYBE_ACCEPTED =
  'The database became unavailable while accepting this message, and whether it was committed is unknown. Retry shortly.'

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
      const ids = batch.map((rows) => rows.email.id)
      const decided = await settleFailedAccept(ids, err, store.existingIds)
      if (decided !== 'isolate' && isAmbiguous(err)) {
        const committed = decided.filter((s) => s.ok).length
        logger.warn({ err, batch: ids.length, committed }, 'accept batch lost its connection; callers told from what was committed')
      }
      return decided
    },
  })
}

export type AcceptBatcher = ReturnType<typeof createAcceptBatcher>

/**
 * What the callers of a failed accept statement are told.
 * - The connection failed or timed out (the repository's `unavailable`, or a raw
 *   connection-class error): the statement may have committed with its acknowledgement lost.
 *   Re-running it item by item would turn committed mail into duplicate-key failures, and
 *   against a dead database would wait out one connect timeout per item. So one query, on a
 *   fresh connection, asks which of the ids exist: those callers succeed, the others get 503;
 *   when that question fails too, everyone gets 503 (nothing is known to be accepted).
 * - Anything else: the batch is re-run item by item (`isolate`) so one bad item fails only its
 *   caller, and an item alone that fails on its own email id's primary key was committed
 *   earlier (by the batch whose acknowledgement was lost): success.
 */
export async function settleFailedAccept(
  ids: string[],
  err: unknown,
  existingIds: (ids: string[]) => Promise<Set<string>>,
): Promise<Settlement<void>[] | 'isolate'> {
  if (isAmbiguous(err)) {
    let committed: Set<string>
    try {
      committed = await existingIds(ids)
    } catch (checkErr) {
      return ids.map(() => ({ ok: false, error: unavailable(MAYBE_ACCEPTED, 5, checkErr) }))
    }
    return ids.map((id) =>
      committed.has(id) ? { ok: true, value: undefined } : { ok: false, error: unavailable(NOTHING_ACCEPTED, 5, err) },
    )
  }
  if (ids.length === 1 && isOwnEmailDuplicate(err, ids[0] as string)) return [{ ok: true, value: undefined }]
  return 'isolate'
}

const isAmbiguous = (err: unknown): boolean => (err instanceof AppError ? err.code === 'unavailable' : isDatabaseUnavailable(err))

/** A unique violation of `emails_pkey` naming this very id: the row is there already. */
export function isOwnEmailDuplicate(err: unknown, id: string): boolean {
  const e = err as { code?: string; constraint?: string; detail?: string } | undefined
  return e?.code === '23505' && e.constraint === 'emails_pkey' && (e.detail ?? '').includes(id)
}
