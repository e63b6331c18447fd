/**
 * When a failed webhook is tried again (WEBHOOK_RETRY_SCHEDULE; by default after 5 s, 30 s, 2 min,
 * 10 min, 30 min, 1 h, 2 h, 4 h and 8 h four times: 13 attempts over about 40 hours, so that an
 * endpoint down for a whole day still gets everything). Each wait is spread by ±20 % so that the
 * retries of a burst of events that failed together do not all come back at the same instant.
 * Returns the next try after attempt `attempt` (1-based) failed, or null when the schedule is used up.
 */
export function nextWebhookAttempt(scheduleMs: readonly number[], attempt: number, now: number, random = Math.random): Date | null {
  const wait = scheduleMs[attempt - 1]
  if (wait === undefined) return null
  return new Date(now + Math.round(wait * (0.8 + 0.4 * random())))
}
