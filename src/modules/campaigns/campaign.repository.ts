import { type PoolClient, withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { DeliveryJob } from '../delivery/dispatch.port.js'
import { jobSender } from '../delivery/route.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import { insertEvents } from '../events/event.repository.js'
import { CAMPAIGN_PAUSED, type Campaign, type CampaignCounts, type CampaignForSend, type CampaignStatus } from './campaign.types.js'

interface CampaignRow {
  id: string
  name: string
  status: CampaignStatus
  rate_per_hour: number | null
  scheduled_at: Date | null
  paused_reason: string | null
  created_at: Date
  updated_at: Date
}

const COLUMNS = 'id, name, status, rate_per_hour, scheduled_at, paused_reason, created_at, updated_at'

const campaign = (r: CampaignRow): Campaign => ({
  id: r.id,
  name: r.name,
  status: r.status,
  ratePerHour: r.rate_per_hour,
  scheduledAt: r.scheduled_at,
  pausedReason: r.paused_reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
})

/** Pending recipients of a campaign not yet handed to SMTP (a `sending` one is in flight and finishes). */
const WAITING = `r.status IN ('scheduled', 'queued', 'deferred')`

/**
 * Recipients of a campaign's emails, as `r` joined to `e`. Recipients are locked before the email
 * rows (refreshEmailStatuses), the order every writer uses.
 */
const OF_CAMPAIGN = `FROM emails e WHERE e.campaign_id = $1 AND e.account_id = $2 AND r.email_id = e.id`

/** The job of a delivery whose recipients no longer wait for it (the attempt each would have run next). */
export interface WithdrawnJob {
  deliveryId: string
  attempt: number
  stream: string
}

const jobsOf = (rows: Array<{ delivery_id: string; attempt_count: number; stream: string }>): WithdrawnJob[] => {
  const seen = new Map<string, WithdrawnJob>()
  for (const r of rows) seen.set(r.delivery_id, { deliveryId: r.delivery_id, attempt: r.attempt_count + 1, stream: r.stream })
  return [...seen.values()]
}

export function createCampaignRepository({ pool }: RepositoryDeps) {
  const setStatus = async (
    client: PoolClient,
    accountId: string,
    id: string,
    from: CampaignStatus[],
    to: CampaignStatus,
    reason: string | null,
  ) => {
    const { rows } = await client.query<CampaignRow>(
      `UPDATE campaigns SET status = $3::"CampaignStatus", paused_reason = $4, updated_at = now()
        WHERE id = $1 AND account_id = $2 AND status = ANY($5::"CampaignStatus"[]) RETURNING ${COLUMNS}`,
      [id, accountId, to, reason, from],
    )
    return rows[0]
  }

  return guardRepository({
    async create(accountId: string, input: { name: string; ratePerHour?: number; scheduledAt?: Date }): Promise<Campaign> {
      const { rows } = await pool.query<CampaignRow>(
        `INSERT INTO campaigns (id, account_id, name, rate_per_hour, scheduled_at, next_slot_at)
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING ${COLUMNS}`,
        [uuidv7(), accountId, input.name, input.ratePerHour ?? null, input.scheduledAt ?? null],
      )
      return campaign(rows[0] as CampaignRow)
    },

    async find(accountId: string, id: string): Promise<Campaign | undefined> {
      const { rows } = await pool.query<CampaignRow>(`SELECT ${COLUMNS} FROM campaigns WHERE id = $1 AND account_id = $2`, [id, accountId])
      return rows[0] && campaign(rows[0])
    },

    async list(accountId: string, before: string | undefined, limit: number): Promise<Campaign[]> {
      const { rows } = await pool.query<CampaignRow>(
        `SELECT ${COLUMNS} FROM campaigns WHERE account_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
        [accountId, before ?? null, limit],
      )
      return rows.map(campaign)
    },

    /** Recipients per status, complaints and unsubscribes of a campaign's emails. */
    async counts(accountId: string, id: string): Promise<CampaignCounts> {
      const [{ rows: statuses }, { rows: feedback }] = await Promise.all([
        pool.query<{ status: string; n: number }>(
          `SELECT r.status::text AS status, count(*)::int AS n FROM recipients r JOIN emails e ON e.id = r.email_id
            WHERE e.campaign_id = $1 AND e.account_id = $2 GROUP BY r.status`,
          [id, accountId],
        ),
        pool.query<{ type: string; n: number }>(
          `SELECT ev.type, count(DISTINCT ev.recipient_id)::int AS n FROM events ev JOIN emails e ON e.id = ev.email_id
            WHERE e.campaign_id = $1 AND e.account_id = $2 AND ev.type IN ('email.complained', 'email.unsubscribed') GROUP BY ev.type`,
          [id, accountId],
        ),
      ])
      const of = (type: string) => feedback.find((f) => f.type === type)?.n ?? 0
      return {
        recipients: Object.fromEntries(statuses.map((s) => [s.status, s.n])),
        complained: of('email.complained'),
        unsubscribed: of('email.unsubscribed'),
      }
    },

    /**
     * What `count` sends into a campaign need, read at accept: its status, and for a throttled
     * campaign `count` start slots taken from its next free one (an hour / rate apart), or for a
     * scheduled one its start. A slot taken by a send that then fails to commit is simply left
     * empty. Undefined when the account has no such campaign.
     */
    async forSend(accountId: string, id: string, count: number): Promise<CampaignForSend | undefined> {
      // The UPDATE reads the slot from the row it locks: concurrent sends into one campaign take
      // consecutive slots, never the same ones.
      const { rows: taken } = await pool.query<{ status: CampaignStatus; next: Date; step_ms: number }>(
        `UPDATE campaigns SET next_slot_at = greatest(coalesce(next_slot_at, now()), now())
                                             + $3 * (3600000.0 / rate_per_hour) * interval '1 millisecond'
          WHERE id = $1 AND account_id = $2 AND rate_per_hour IS NOT NULL AND status <> 'cancelled'
          RETURNING status, next_slot_at AS next, 3600000.0 / rate_per_hour AS step_ms`,
        [id, accountId, count],
      )
      const throttled = taken[0]
      if (throttled) {
        const step = Number(throttled.step_ms)
        const first = throttled.next.getTime() - count * step
        return { status: throttled.status, slots: Array.from({ length: count }, (_, i) => new Date(Math.round(first + i * step))) }
      }
      const { rows } = await pool.query<{ status: CampaignStatus; scheduled_at: Date | null }>(
        'SELECT status, scheduled_at FROM campaigns WHERE id = $1 AND account_id = $2',
        [id, accountId],
      )
      const row = rows[0]
      if (!row) return undefined
      const start = row.scheduled_at && row.scheduled_at.getTime() > Date.now() ? row.scheduled_at : undefined
      return { status: row.status, slots: start ? Array.from({ length: count }, () => start) : [] }
    },

    /**
     * Pauses an active campaign: its waiting recipients are held (reason `campaign_paused`, next
     * attempt at their email's expiry, so that nothing picks them up and the sweeper still expires
     * them on time) and the claim refuses any it meets. Undefined when there is no such active campaign.
     */
    async pause(
      accountId: string,
      id: string,
      reason: string,
    ): Promise<{ campaign: Campaign; held: number; jobs: WithdrawnJob[] } | undefined> {
      return withTransaction(pool, async (client) => {
        const row = await setStatus(client, accountId, id, ['active'], 'paused', reason)
        if (!row) return undefined
        const { rows } = await client.query<{ delivery_id: string; attempt_count: number; stream: string }>(
          `UPDATE recipients r SET reason = '${CAMPAIGN_PAUSED}', next_attempt_at = e.expires_at, updated_at = now()
           ${OF_CAMPAIGN} AND ${WAITING} RETURNING r.delivery_id, r.attempt_count, e.stream`,
          [id, accountId],
        )
        return { campaign: campaign(row), held: rows.length, jobs: jobsOf(rows) }
      })
    },

    /**
     * Resumes a paused campaign: its held recipients are due again (a throttled campaign's spread
     * from now at its rate, a scheduled one's not before its start) and the jobs to run them are
     * returned for dispatch.
     */
    async resume(accountId: string, id: string): Promise<{ campaign: Campaign; jobs: DeliveryJob[] } | undefined> {
      return withTransaction(pool, async (client) => {
        const row = await setStatus(client, accountId, id, ['paused'], 'active', null)
        if (!row) return undefined
        const step = row.rate_per_hour ? 3_600_000 / row.rate_per_hour : 0
        const { rows } = await client.query<{
          delivery_id: string
          attempt: number
          at: Date
          route: string
          size: number
          account_id: string
          from_header: string
          stream: string
        }>(
          `WITH held AS (
             -- Spread again from now for a throttled campaign (its old slots are gone), never past the
             -- email's expiry (the sweeper expires it then); otherwise not before its own start.
             SELECT r.id, least(e.expires_at, CASE WHEN $3 > 0
                      THEN greatest(now(), coalesce(k.scheduled_at, now())) + (row_number() OVER (ORDER BY e.id, r.id) - 1) * $3 * interval '1 millisecond'
                      ELSE greatest(now(), coalesce(e.scheduled_at, now())) END) AS at
               FROM recipients r JOIN emails e ON e.id = r.email_id JOIN campaigns k ON k.id = e.campaign_id
              WHERE e.campaign_id = $1 AND e.account_id = $2 AND ${WAITING} AND r.reason = '${CAMPAIGN_PAUSED}'
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
          [id, accountId, step],
        )
        if (step > 0 && rows.length > 0) {
          let last = 0
          for (const r of rows) last = Math.max(last, r.at.getTime())
          await client.query('UPDATE campaigns SET next_slot_at = greatest(next_slot_at, $2::timestamptz) WHERE id = $1', [
            id,
            new Date(last + step),
          ])
        }
        const jobs = rows.map((r) => ({
          deliveryId: r.delivery_id,
          attempt: r.attempt,
          runAt: r.at,
          route: r.route,
          size: r.size,
          stream: r.stream,
          sender: jobSender(r.route, { accountId: r.account_id, fromHeader: r.from_header }),
        }))
        return { campaign: campaign(row), jobs }
      })
    },

    /**
     * Cancels a campaign that is not cancelled yet: every recipient not yet handed to SMTP is
     * `cancelled` with an event, and new sends into it are refused. Undefined when there is no such campaign.
     */
    async cancel(accountId: string, id: string): Promise<{ campaign: Campaign; cancelled: number; jobs: WithdrawnJob[] } | undefined> {
      return withTransaction(pool, async (client) => {
        const row = await setStatus(client, accountId, id, ['active', 'paused'], 'cancelled', null)
        if (!row) return undefined
        const { rows } = await client.query<{
          id: string
          email_id: string
          address: string
          delivery_id: string
          attempt_count: number
          stream: string
        }>(
          `UPDATE recipients r SET status = 'cancelled', reason = NULL, next_attempt_at = NULL, updated_at = now()
           ${OF_CAMPAIGN} AND ${WAITING} RETURNING r.id, r.email_id, r.address, r.delivery_id, r.attempt_count, e.stream`,
          [id, accountId],
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
        return { campaign: campaign(row), cancelled: rows.length, jobs: jobsOf(rows) }
      })
    },
  })
}

export type CampaignRepository = ReturnType<typeof createCampaignRepository>
