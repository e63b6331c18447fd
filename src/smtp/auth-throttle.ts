/**
 * Slows down, then refuses, addresses that keep failing SMTP logins: each failure beyond the
 * second delays the next answer a little more, and at `maxFailures` the address is refused
 * for `blockMs`. Kept in process memory: a guess-rate brake, not an account lockout.
 */
export interface AuthThrottleOptions {
  maxFailures: number
  blockMs: number
  /** Failures older than this are forgotten. */
  windowMs?: number
  now?: () => number
}

interface Entry {
  failures: number
  first: number
  blockedUntil: number
}

const MAX_TRACKED = 10_000

export function createAuthThrottle(options: AuthThrottleOptions) {
  const now = options.now ?? Date.now
  const windowMs = options.windowMs ?? options.blockMs
  const entries = new Map<string, Entry>()

  const current = (ip: string): Entry | undefined => {
    const entry = entries.get(ip)
    if (entry && entry.blockedUntil < now() && now() - entry.first > windowMs) {
      entries.delete(ip)
      return undefined
    }
    return entry
  }

  return {
    isBlocked: (ip: string): boolean => (current(ip)?.blockedUntil ?? 0) > now(),

    /** Records a failure; returns how long to wait before answering it. */
    fail(ip: string): number {
      let entry = current(ip)
      if (!entry) {
        // Bounded memory: a flood of distinct addresses evicts the oldest entries.
        if (entries.size >= MAX_TRACKED) entries.delete(entries.keys().next().value as string)
        entry = { failures: 0, first: now(), blockedUntil: 0 }
        entries.set(ip, entry)
      }
      entry.failures++
      if (entry.failures >= options.maxFailures) entry.blockedUntil = now() + options.blockMs
      return Math.min(Math.max(0, entry.failures - 2) * 500, 5_000)
    },

    succeed(ip: string): void {
      if (!current(ip)?.blockedUntil) entries.delete(ip)
    },
  }
}

export type AuthThrottle = ReturnType<typeof createAuthThrottle>
