import type { Redis } from './redis.js'

/**
 * Per-account, per-stream quotas (recipients per UTC day and per UTC month), counted in Redis
 * (`<prefix>:quota:<account>:<stream>:d:<yyyymmdd>` and `:m:<yyyymm>`). A reservation takes at
 * most what both periods have left, atomically, so concurrent sends never overshoot; a send that
 * is then not committed gives its reservation back.
 */
const RESERVE = `
local day = tonumber(redis.call('GET', KEYS[1]) or '0')
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
local want = tonumber(ARGV[1])
local left = want
if tonumber(ARGV[2]) > 0 then left = math.min(left, tonumber(ARGV[2]) - day) end
if tonumber(ARGV[3]) > 0 then left = math.min(left, tonumber(ARGV[3]) - month) end
if left < 0 then left = 0 end
if left > 0 then
  redis.call('INCRBY', KEYS[1], left)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('INCRBY', KEYS[2], left)
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return {left, day, month}`

export interface QuotaLimits {
  day?: number
  month?: number
}

export interface Reservation {
  granted: number
  /** When less than asked was granted: the period that ran out, its limit, and seconds until it resets. */
  exhausted?: { period: 'day' | 'month'; limit: number; retryAfter: number }
}

export interface QuotaCounter {
  reserve(accountId: string, stream: string, count: number, limits: QuotaLimits, now?: Date): Promise<Reservation>
  refund(accountId: string, stream: string, count: number, now?: Date): Promise<void>
}

const pad = (n: number) => String(n).padStart(2, '0')

function periods(now: Date) {
  const y = now.getUTCFullYear()
  const m = now.getUTCMonth()
  const dayEnd = Date.UTC(y, m, now.getUTCDate() + 1)
  const monthEnd = Date.UTC(y, m + 1, 1)
  return {
    day: `${y}${pad(m + 1)}${pad(now.getUTCDate())}`,
    month: `${y}${pad(m + 1)}`,
    dayLeftMs: dayEnd - now.getTime(),
    monthLeftMs: monthEnd - now.getTime(),
  }
}

export function createQuotaCounter(options: { redis: Redis; prefix: string }): QuotaCounter {
  const keys = (accountId: string, stream: string, now: Date) => {
    const p = periods(now)
    const base = `${options.prefix}:quota:${accountId}:${stream}`
    return { day: `${base}:d:${p.day}`, month: `${base}:m:${p.month}`, dayLeftMs: p.dayLeftMs, monthLeftMs: p.monthLeftMs }
  }
  return {
    async reserve(accountId, stream, count, limits, now = new Date()) {
      const k = keys(accountId, stream, now)
      // Kept a day past their period, so a clock a little behind still finds them.
      const [granted, , month] = (await options.redis.eval(
        RESERVE,
        2,
        k.day,
        k.month,
        count,
        limits.day ?? 0,
        limits.month ?? 0,
        k.dayLeftMs + 86_400_000,
        k.monthLeftMs + 86_400_000,
      )) as [number, number, number]
      if (granted >= count) return { granted }
      // The month outlasts the day: if it ran out, waiting for tomorrow does not help.
      const monthOut = limits.month !== undefined && month + granted >= limits.month
      const period: 'day' | 'month' = monthOut ? 'month' : 'day'
      const limit = (period === 'month' ? limits.month : limits.day) ?? 0
      const retryAfter = Math.ceil((period === 'month' ? k.monthLeftMs : k.dayLeftMs) / 1000)
      return { granted, exhausted: { period, limit, retryAfter } }
    },
    async refund(accountId, stream, count, now = new Date()) {
      if (count <= 0) return
      const k = keys(accountId, stream, now)
      await options.redis.multi().decrby(k.day, count).decrby(k.month, count).exec()
    },
  }
}
