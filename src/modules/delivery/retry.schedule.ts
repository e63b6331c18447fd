export interface RetryPolicy {
  /** Delay after attempt 1, 2, …; the last entry repeats. */
  scheduleMs: readonly number[]
  /** ±fraction of random spread, so retries of a burst do not arrive together. */
  jitter: number
}

export type RetryDecision = { retry: true; at: Date } | { retry: false }

/**
 * The last try is placed this long before expiry: a claim refuses an expired message, so a try
 * scheduled at the very deadline would only ever be expired by the sweeper.
 */
export const LAST_TRY_MARGIN_MS = 1_000

/**
 * When to try again after `attemptsMade` failed attempts. A step that would overshoot the
 * message's expiry is shortened to end just before it, for one last try; once that point has
 * passed there is no retry (C3: every recipient ends within MAX_DELIVERY_AGE).
 */
export function nextAttempt(policy: RetryPolicy, attemptsMade: number, now: Date, expiresAt: Date, random = Math.random): RetryDecision {
  const { scheduleMs } = policy
  const base = scheduleMs[Math.min(Math.max(attemptsMade, 1), scheduleMs.length) - 1] as number
  const spread = base * policy.jitter * (random() * 2 - 1)
  const lastTry = expiresAt.getTime() - LAST_TRY_MARGIN_MS
  if (now.getTime() >= lastTry) return { retry: false }
  const at = Math.min(now.getTime() + Math.round(base + spread), lastTry)
  return { retry: true, at: new Date(at) }
}
