import type { Logger } from '../../infra/logger.js'
import type { QuotaCounter, QuotaLimits } from '../../infra/quota-counter.js'
import { AppError } from '../../lib/errors.js'
import type { Principal } from '../api-keys/api-key.types.js'
import type { Streams } from '../streams/streams.js'

/**
 * Per-account quotas per stream (recipients per UTC day and month): the account's own, else the
 * stream's default (STREAMS). Reserved before the commit and given back if nothing is committed.
 * An unreachable Redis skips the quota rather than refuse mail Postgres can take (as the rate limit does).
 */
export function createQuotas(deps: { counter?: QuotaCounter; streams: Streams; logger: Logger }) {
  const limitsOf = (principal: Principal, stream: string): QuotaLimits | undefined => {
    const own = principal.quotas?.[stream]
    const limits = own ?? deps.streams.get(stream)?.quota
    return limits && (limits.day !== undefined || limits.month !== undefined) ? limits : undefined
  }

  const exceeded = (stream: string, e: { period: 'day' | 'month'; limit: number; retryAfter: number }) =>
    new AppError(
      'rate_limited',
      `The account's quota for the ${stream} stream (${e.limit} recipients per UTC ${e.period}) is used up; it resets in ${e.retryAfter} s. Ask the operator for a larger quota.`,
      { retryAfter: e.retryAfter },
    )

  /** Gives back what was reserved and not committed (best effort). */
  async function refund(principal: Principal, stream: string, count: number): Promise<void> {
    if (count <= 0 || !deps.counter || !limitsOf(principal, stream)) return
    await deps.counter.refund(principal.accountId, stream, count).catch((err) => {
      deps.logger.warn({ err: String(err), accountId: principal.accountId, stream, count }, 'could not give back a quota reservation')
    })
  }

  return {
    refund,
    /**
     * Reserves up to `count` recipients; returns how many were granted (all of them, or — with
     * `partial` — as many as fit) and, when short, the error the rest get. Without `partial`, a
     * short grant is given back and the error thrown.
     */
    async reserve(principal: Principal, stream: string, count: number, partial = false): Promise<{ granted: number; error?: AppError }> {
      const limits = limitsOf(principal, stream)
      if (!limits || !deps.counter || count === 0) return { granted: count }
      let result: Awaited<ReturnType<QuotaCounter['reserve']>>
      try {
        result = await deps.counter.reserve(principal.accountId, stream, count, limits)
      } catch (err) {
        deps.logger.warn({ err: String(err), accountId: principal.accountId, stream }, 'quota not checked: Redis did not answer')
        return { granted: count }
      }
      if (!result.exhausted) return { granted: result.granted }
      const error = exceeded(stream, result.exhausted)
      if (partial) return { granted: result.granted, error }
      await refund(principal, stream, result.granted)
      throw error
    },
  }
}

export type Quotas = ReturnType<typeof createQuotas>
