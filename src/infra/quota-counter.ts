import type { Redis } from './redis.js'

/**
 * Per-account, per-stream quotas (recipients per UTC day and per UTC month), counted in Redis
 * (`<prefix>:quota:<account>:<stream>:d:<yyyymmdd>` and `:m:<yyyymm>`). A reservation takes at
 * most what both periods have left, atomically, so concurrent sends never overshoot; a send that
 * is then not committed gives back to the very counters it took from (never to the next day's),
 * and never below zero.
 */
const RESERVE = `
local day = tonumber(redis.call('GET', KEYS[1]) or '0')
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
local left = tonumber(ARGV[1])
if tonumber(ARGV[2]) >= 0 then left = math.min(left, tonumber(ARGV[2]) - day) end
if tonumber(ARGV[3]) >= 0 then left = math.min(left, tonumber(ARGV[3]) - month) end
if left < 0 then left = 0 end
if left > 0 then
  redis.call('INCRBY', KEYS[1], left)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('INCRBY', KEYS[2], left)
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return {left, day, month}`

const REFUND = `
for i = 1, 2 do
  local now = tonumber(redis.call('GET', KEYS[i]) or '0')
  if now > 0 then redis.call('DECRBY', KEYS[i], math.min(now, tonumber(ARGV[1]))) end
end
return 1`

/** Absent: no limit; 0 blocks the stream for the account. */
export interface QuotaLimits {
  day?: number
  month?: number
}

export interface Reservation {
  granted: number
  /** When less than asked was granted: the period that ran out, its limit, and seconds until it resets. */
  exhausted?: { period: 'day' | 'month'; limit: number; retryAfter: number }
  /** Gives back up to `count` of what was granted, to the counters it was taken from. */
  refund(count: number): Promise<void>
}

export interface QuotaCounter {
  reserve(accountId: string, stream: string, count: number, limits: QuotaLimits, now?: Date): Promise<Reservation>
}

const pad = (n: number) => String(n).padStart(2, '0')

export function createQuotaCounter(options: { redis: Redis; prefix: string }): QuotaCounter {
  return {
    async reserve(accountId, stream, count, limits, now = new Date()) {
      const y = now.getUTCFullYear()
      const m = now.getUTCMonth()
      const dayLeftMs = Date.UTC(y, m, now.getUTCDate() + 1) - now.getTime()
      const monthLeftMs = Date.UTC(y, m + 1, 1) - now.getTime()
      const base = `${options.prefix}:quota:${accountId}:${stream}`
      const keys = [`${base}:d:${y}${pad(m + 1)}${pad(now.getUTCDate())}`, `${base}:m:${y}${pad(m + 1)}`]
      // Kept a day past their period, so a clock a little behind still finds them.
      const [granted, , month] = (await options.redis.eval(
        RESERVE,
        2,
        ...keys,
        count,
        limits.day ?? -1,
        limits.month ?? -1,
        dayLeftMs + 86_400_000,
        monthLeftMs + 86_400_000,
      )) as [number, number, number]
      let given = granted
      const refund = async (n: number) => {
        const back = Math.min(n, given)
        if (back <= 0) return
        given -= back
        await options.redis.eval(REFUND, 2, ...keys, back)
      }
      if (granted >= count) return { granted, refund }
      // The month outlasts the day: if it ran out, waiting for tomorrow does not help.
      const monthOut = limits.month !== undefined && month + granted >= limits.month
      const period: 'day' | 'month' = monthOut ? 'month' : 'day'
      const limit = (period === 'month' ? limits.month : limits.day) ?? 0
      const retryAfter = Math.ceil((period === 'month' ? monthLeftMs : dayLeftMs) / 1000)
      return { granted, exhausted: { period, limit, retryAfter }, refund }
    },
  }
}
