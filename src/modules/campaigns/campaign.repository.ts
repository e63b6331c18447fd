import { type PoolClient, withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { DeliveryJob } from '../delivery/dispatch.port.js'
import { cancelWaiting, hold, release, someEmails, type WithdrawnJob, wholeCampaign } from './campaign.recipients.js'
import type { Campaign, CampaignCounts, CampaignForSend, CampaignStatus } from './campaign.types.js'

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
     * Pauses an active campaign: its waiting recipients are held and the claim refuses any it
     * meets. Undefined when there is no such active campaign.
     */
    async pause(
      accountId: string,
      id: string,
      reason: string,
    ): Promise<{ campaign: Campaign; held: number; jobs: WithdrawnJob[] } | undefined> {
      return withTransaction(pool, async (client) => {
        const row = await setStatus(client, accountId, id, ['active'], 'paused', reason)
        if (!row) return undefined
        return { campaign: campaign(row), ...(await hold(client, wholeCampaign(id, accountId))) }
      })
    },

    /** Resumes a paused campaign: its held recipients are due again, and the jobs to run them returned for dispatch. */
    async resume(accountId: string, id: string): Promise<{ campaign: Campaign; jobs: DeliveryJob[] } | undefined> {
      return withTransaction(pool, async (client) => {
        const row = await setStatus(client, accountId, id, ['paused'], 'active', null)
        if (!row) return undefined
        const step = row.rate_per_hour ? 3_600_000 / row.rate_per_hour : 0
        const { jobs, last } = await release(client, wholeCampaign(id, accountId), step)
        if (step > 0 && last) {
          await client.query('UPDATE campaigns SET next_slot_at = greatest(next_slot_at, $2::timestamptz) WHERE id = $1', [
            id,
            new Date(last.getTime() + step),
          ])
        }
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
        return { campaign: campaign(row), ...(await cancelWaiting(client, accountId, wholeCampaign(id, accountId))) }
      })
    },

    /**
     * Makes just-committed emails of a campaign agree with its status now: a pause, resume or
     * cancel may have committed between the status their accept read and their commit, and did
     * not see them. The campaign row is locked (FOR SHARE) so that no change commits meanwhile;
     * one that commits later sees the emails. Held recipients of an active campaign are released
     * (jobs to dispatch); waiting ones of a paused campaign held, of a cancelled one cancelled
     * (jobs to withdraw). Undefined when the campaign is gone.
     */
    async reconcile(
      accountId: string,
      id: string,
      emailIds: string[],
      anyHeld: boolean,
    ): Promise<{ status: CampaignStatus; dispatch: DeliveryJob[]; withdraw: WithdrawnJob[] } | undefined> {
      const { rows: seen } = await pool.query<{ status: CampaignStatus }>(
        'SELECT status FROM campaigns WHERE id = $1 AND account_id = $2',
        [id, accountId],
      )
      const first = seen[0]?.status
      if (!first) return undefined
      // The usual case: still active and nothing held. A pause committing from now on sees the emails.
      if (first === 'active' && !anyHeld) return { status: first, dispatch: [], withdraw: [] }
      return withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ status: CampaignStatus }>(
          'SELECT status FROM campaigns WHERE id = $1 AND account_id = $2 FOR SHARE',
          [id, accountId],
        )
        const status = rows[0]?.status as CampaignStatus
        const scope = someEmails(id, accountId, emailIds)
        if (status === 'active') return { status, dispatch: (await release(client, scope, 0)).jobs, withdraw: [] }
        if (status === 'paused') return { status, dispatch: [], withdraw: (await hold(client, scope)).jobs }
        return { status, dispatch: [], withdraw: (await cancelWaiting(client, accountId, scope)).jobs }
      })
    },
  })
}

export type CampaignRepository = ReturnType<typeof createCampaignRepository>
