import type { Logger } from '../../infra/logger.js'
import type { QuotaCounter, QuotaLimits } from '../../infra/quota-counter.js'
import { AppError } from '../../lib/errors.js'
import type { Principal } from '../api-keys/api-key.types.js'
import type { Streams } from '../streams/streams.js'

/** What a reservation granted, and how to give back what is then not committed (best effort). */
export interface Reserved {
  granted: number
  error?: AppError
  refund(count: number): Promise<void>
}

const nothingToRefund = async () => {}

/**
 * Per-account quotas per stream (recipients per UTC day and month): the account's own, else the
 * stream's default (STREAMS). Reserved before the commit and given back if nothing is committed.
 * An unreachable Redis skips the quota rather than refuse mail Postgres can take (as the rate
 * limit does); nothing is then counted, so nothing is given back either.
 */
export function createQuotas(deps: { counter?: QuotaCounter; streams: Streams; logger: Logger }) {
  const limitsOf = (principal: Principal, stream: string): QuotaLimits | undefined => {
    const limits = principal.quotas?.[stream] ?? deps.streams.get(stream)?.quota
    return limits && (limits.day !== undefined || limits.month !== undefined) ? limits : undefined
  }

  const exceeded = (stream: string, e: { period: 'day' | 'month'; limit: number; retryAfter: number }) =>
    new AppError(
      'rate_limited',
      e.limit === 0
        ? `The account may not send in the ${stream} stream (its quota is 0). Ask the operator.`
        : `The account's quota for the ${stream} stream (${e.limit} recipients per UTC ${e.period}) is used up; it resets in ${e.retryAfter} s. Ask the operator for a larger quota.`,
      { retryAfter: e.retryAfter },
    )

  return {
    /**
     * Reserves up to `count` recipients: all of them, or — with `partial` — as many as fit, with
     * the error the rest get. Without `partial`, a short grant is given back and the error thrown.
     */
    async reserve(principal: Principal, stream: string, count: number, partial = false): Promise<Reserved> {
      const limits = limitsOf(principal, stream)
      if (!limits || !deps.counter || count === 0) return { granted: count, refund: nothingToRefund }
      let result: Awaited<ReturnType<QuotaCounter['reserve']>>
      try {
        result = await deps.counter.reserve(principal.accountId, stream, count, limits)
      } catch (err) {
        deps.logger.warn({ err: String(err), accountId: principal.accountId, stream }, 'quota not checked: Redis did not answer')
        return { granted: count, refund: nothingToRefund }
      }
      const refund = (n: number) =>
        result.refund(n).catch((err) => {
          deps.logger.warn(
            { err: String(err), accountId: principal.accountId, stream, count: n },
            'could not give back a quota reservation',
          )
        })
      if (!result.exhausted) return { granted: result.granted, refund }
      const error = exceeded(stream, result.exhausted)
      if (partial) return { granted: result.granted, error, refund }
      await refund(result.granted)
      throw error
    },
  }
}

export type Quotas = ReturnType<typeof createQuotas>
