import type { PoolClient } from '../../infra/db.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { DeliveryJob } from '../delivery/dispatch.port.js'
import { jobSender } from '../delivery/route.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import { insertEvents } from '../events/event.repository.js'
import { CAMPAIGN_PAUSED } from './campaign.types.js'

/**
 * The statements that put a campaign's recipients in step with its status (hold, release,
 * cancel), each over the emails a `scope` picks: conditions on `e` (the email) with their own
 * parameters. Used by pause, resume and cancel (the whole campaign) and by the reconciliation
 * after an accept (just the emails it wrote).
 */
export interface Scope {
  where: string
  params: unknown[]
}

/** Pending recipients not yet handed to SMTP (a `sending` one is in flight and finishes). */
export const WAITING = `r.status IN ('scheduled', 'queued', 'deferred')`

/** The whole campaign ($1 the campaign, $2 the account). */
export const wholeCampaign = (id: string, accountId: string): Scope => ({
  where: 'e.campaign_id = $1 AND e.account_id = $2',
  params: [id, accountId],
})

/** Some emails of the campaign. */
export const someEmails = (id: string, accountId: string, emailIds: string[]): Scope => ({
  where: 'e.campaign_id = $1 AND e.account_id = $2 AND e.id = ANY($3::uuid[])',
  params: [id, accountId, emailIds],
})

/** The job of a delivery whose recipients no longer wait for it (the attempt each would have run next). */
export interface WithdrawnJob {
  deliveryId: string
  attempt: number
  stream: string
}

type JobRow = { delivery_id: string; attempt_count: number; stream: string }

const jobsOf = (rows: JobRow[]): WithdrawnJob[] => {
  const seen = new Map<string, WithdrawnJob>()
  for (const r of rows) seen.set(r.delivery_id, { deliveryId: r.delivery_id, attempt: r.attempt_count + 1, stream: r.stream })
  return [...seen.values()]
}

/**
 * Holds waiting recipients: reason `campaign_paused`, next attempt at their email's expiry, so
 * that nothing picks them up and the sweeper still expires them on time.
 */
export async function hold(client: PoolClient, scope: Scope): Promise<{ held: number; jobs: WithdrawnJob[] }> {
  const { rows } = await client.query<JobRow>(
    `UPDATE recipients r SET reason = '${CAMPAIGN_PAUSED}', next_attempt_at = e.expires_at, updated_at = now()
     FROM emails e WHERE ${scope.where} AND r.email_id = e.id AND ${WAITING} AND r.reason IS DISTINCT FROM '${CAMPAIGN_PAUSED}'
     RETURNING r.delivery_id, r.attempt_count, e.stream`,
    scope.params,
  )
  return { held: rows.length, jobs: jobsOf(rows) }
}

interface ReleasedRow {
  delivery_id: string
  attempt: number
  at: Date
  route: string
  size: number
  account_id: string
  from_header: string
  stream: string
}

/**
 * Releases held recipients: due again from now, a throttled campaign's spread `stepMs` apart
 * from its start (its old slots are gone), never past the email's expiry (the sweeper expires it
 * then); otherwise not before the email's own start. Returns one job per delivery to dispatch.
 */
export async function release(client: PoolClient, scope: Scope, stepMs: number): Promise<{ jobs: DeliveryJob[]; last?: Date }> {
  const step = `$${scope.params.length + 1}`
  const { rows } = await client.query<ReleasedRow>(
    `WITH held AS (
       SELECT r.id, least(e.expires_at, CASE WHEN ${step} > 0
                THEN greatest(now(), coalesce(k.scheduled_at, now())) + (row_number() OVER (ORDER BY e.id, r.id) - 1) * ${step} * interval '1 millisecond'
                ELSE greatest(now(), coalesce(e.scheduled_at, now())) END) AS at
         FROM recipients r JOIN emails e ON e.id = r.email_id JOIN campaigns k ON k.id = e.campaign_id
        WHERE ${scope.where} AND ${WAITING} AND r.reason = '${CAMPAIGN_PAUSED}'
     ), due AS (
       UPDATE recipients r SET next_attempt_at = held.at, updated_at = now(),
              reason = CASE r.status WHEN 'deferred' THEN 'waiting_retry' ELSE r.status::text END
         FROM held WHERE r.id = held.id
       RETURNING r.delivery_id, r.attempt_count, r.next_attempt_at, r.email_id
     )
     SELECT due.delivery_id, max(due.attempt_count) + 1 AS attempt, min(due.next_attempt_at) AS at, min(d.route) AS route,
            max(e.size_bytes) AS size, min(e.account_id::text) AS account_id, min(e.from_header) AS from_header, min(e.stream) AS stream
       FROM due JOIN deliveries d ON d.id = due.delivery_id JOIN emails e ON e.id = due.email_id
      GROUP BY due.delivery_id`,
    [...scope.params, stepMs],
  )
  let last: Date | undefined
  for (const r of rows) if (!last || r.at > last) last = r.at
  const jobs = rows.map((r) => ({
    deliveryId: r.delivery_id,
    attempt: r.attempt,
    runAt: r.at,
    route: r.route,
    size: r.size,
    stream: r.stream,
    sender: jobSender(r.route, { accountId: r.account_id, fromHeader: r.from_header }),
  }))
  return { jobs, last }
}

/** Cancels waiting recipients, with an `email.cancelled` event each and their emails' statuses recomputed. */
export async function cancelWaiting(
  client: PoolClient,
  accountId: string,
  scope: Scope,
): Promise<{ cancelled: number; jobs: WithdrawnJob[] }> {
  const { rows } = await client.query<JobRow & { id: string; email_id: string; address: string }>(
    `UPDATE recipients r SET status = 'cancelled', reason = NULL, next_attempt_at = NULL, updated_at = now()
     FROM emails e WHERE ${scope.where} AND r.email_id = e.id AND ${WAITING}
     RETURNING r.id, r.email_id, r.address, r.delivery_id, r.attempt_count, e.stream`,
    scope.params,
  )
  await insertEvents(
    client,
    rows.map((r) => ({
      id: uuidv7(),
      accountId,
      emailId: r.email_id,
      recipientId: r.id,
      recipient: r.address,
      type: 'email.cancelled',
      data: { reason: 'campaign_cancelled' },
    })),
  )
  await refreshEmailStatuses(
    client,
    rows.map((r) => r.email_id),
  )
  return { cancelled: rows.length, jobs: jobsOf(rows) }
}
