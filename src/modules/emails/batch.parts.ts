import { AppError, type ErrorDetail, validationFailed } from '../../lib/errors.js'
import type { Principal } from '../api-keys/api-key.types.js'
import type { BatchItemRows } from './batch.repository.js'
import type { Quotas } from './quota.js'

/** A refused item of a batch: its index and its error. */
export interface BatchItemError {
  index: number
  /** `retryAfter` is kept for a strict batch's answer and not shown per item. */
  error: { code: string; message: string; details?: ErrorDetail[]; retryAfter?: number }
}

/** An item's error from an AppError (its details already carry the item's path). */
export const itemError = (index: number, err: AppError): BatchItemError => ({
  index,
  error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}), retryAfter: err.retryAfter },
})

/**
 * Reserves each stream's quota for the batch's items: the items that fit (in index order) go;
 * the others get the quota's 429 in `errors`. `giveBack(keep)` returns what was reserved beyond
 * `keep(stream)` recipients (what was then written).
 */
export async function reserveQuotas(quotas: Quotas, principal: Principal, rows: BatchItemRows[], errors: BatchItemError[]) {
  const reserved = new Map<string, { kept: number; refund: (n: number) => Promise<void> }>()
  const byStream = new Map<string, BatchItemRows[]>()
  for (const r of rows) {
    const some = byStream.get(r.rows.email.stream)
    if (some) some.push(r)
    else byStream.set(r.rows.email.stream, [r])
  }
  const overQuota = new Set<number>()
  for (const [stream, some] of byStream) {
    const wanted = some.reduce((n, r) => n + r.rows.recipients.length, 0)
    const { granted, error, refund } = await quotas.reserve(principal, stream, wanted, true)
    let left = granted
    for (const r of some) {
      if (left >= r.rows.recipients.length) left -= r.rows.recipients.length
      else if (error) {
        overQuota.add(r.index)
        errors.push(itemError(r.index, error))
      }
    }
    reserved.set(stream, { kept: granted - left, refund })
    if (left > 0) await refund(left)
  }
  const giveBack = async (keep: (stream: string) => number) => {
    for (const [stream, r] of reserved) await r.refund(r.kept - keep(stream))
  }
  return { overQuota, giveBack }
}

/** Strict mode and a stream's quota cannot take every item: its 429, naming how many items it refused. */
export function quotaFailure(errors: BatchItemError[], overQuota: Set<number>): AppError {
  const first = errors.find((e) => overQuota.has(e.index)) as BatchItemError
  return new AppError(
    'rate_limited',
    `${overQuota.size} of the batch's items are over quota; nothing was accepted (mode strict). ${first.error.message}`,
    {
      retryAfter: first.error.retryAfter,
    },
  )
}

/** Strict mode: nothing accepted; every problem of every item listed, with its item's path. */
export function strictFailure(errors: BatchItemError[]): AppError {
  const details = errors.flatMap((e) => e.error.details ?? [{ path: `/emails/${e.index}`, message: e.error.message }])
  const failed = validationFailed(details)
  return new AppError(
    'validation_failed',
    `${errors.length} of the batch's items are invalid; nothing was accepted (mode strict): ${failed.message}`,
    {
      details: failed.details,
    },
  )
}
