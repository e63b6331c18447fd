import type { Account } from '../../generated/prisma/client.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { accountQuotas } from '../api-keys/api-key.repository.js'
import type { AccountQuotas } from '../api-keys/api-key.types.js'

export interface StoredAccount {
  id: string
  name: string
  broadcastFooter: string | null
  /** The account's own quotas per stream; a stream not named has the stream's default. */
  quotas: AccountQuotas
  /** Set by the operator: the account's keys are refused and its queued mail is held. */
  suspendedAt: Date | null
  suspendedReason: string | null
  /** The account's own retention in days (null: the defaults, RETENTION_BODIES and RETENTION_METADATA). */
  retention: { bodyDays: number | null; metadataDays: number | null }
  createdAt: Date
}

/** accounts.quotas, well-formed entries only, without the limits not set (so that JSON shows what is set). */
function quotasOf(value: unknown): AccountQuotas {
  const out: AccountQuotas = {}
  for (const [stream, { day, month }] of Object.entries(accountQuotas(value))) {
    out[stream] = { ...(day === undefined ? {} : { day }), ...(month === undefined ? {} : { month }) }
  }
  return out
}

const stored = (row: Account): StoredAccount => ({
  id: row.id,
  name: row.name,
  broadcastFooter: row.broadcastFooter,
  quotas: quotasOf(row.quotas),
  suspendedAt: row.suspendedAt,
  suspendedReason: row.suspendedReason,
  retention: { bodyDays: row.bodyRetentionDays, metadataDays: row.metadataRetentionDays },
  createdAt: row.createdAt,
})

interface AccountRow {
  id: string
  name: string
  broadcast_footer: string | null
  quotas: unknown
  suspended_at: Date | null
  suspended_reason: string | null
  body_retention_days: number | null
  metadata_retention_days: number | null
  created_at: Date
}

const fromRow = (row: AccountRow): StoredAccount => ({
  id: row.id,
  name: row.name,
  broadcastFooter: row.broadcast_footer,
  quotas: quotasOf(row.quotas),
  suspendedAt: row.suspended_at,
  suspendedReason: row.suspended_reason,
  retention: { bodyDays: row.body_retention_days, metadataDays: row.metadata_retention_days },
  createdAt: row.created_at,
})

const COLUMNS =
  'id, name, broadcast_footer, quotas, suspended_at, suspended_reason, body_retention_days, metadata_retention_days, created_at'

export function createAccountRepository({ pool, prisma }: RepositoryDeps) {
  const find = async (id: string): Promise<StoredAccount | undefined> => {
    const row = await prisma.account.findUnique({ where: { id } })
    return row ? stored(row) : undefined
  }
  return guardRepository({
    async insert(account: { id: string; name: string }): Promise<StoredAccount> {
      return stored(await prisma.account.create({ data: account }))
    },

    find,

    /**
     * Newest first (ids are UUIDv7), `before` the id of the last account of the previous page.
     * `q` is a case-insensitive substring of the name, matched with strpos rather than LIKE so that
     * `%` and `_` in it are plain characters. The walk down the primary key stops at `limit`
     * matches; every account is looked at only when few match, and accounts are few.
     */
    async list(page: { limit: number; before?: string; q?: string }): Promise<StoredAccount[]> {
      const { rows } = await pool.query<AccountRow>(
        `SELECT ${COLUMNS} FROM accounts
          WHERE ($1::uuid IS NULL OR id < $1::uuid)
            AND ($2::text IS NULL OR strpos(lower(name), lower($2::text)) > 0)
          ORDER BY id DESC LIMIT $3`,
        [page.before ?? null, page.q ?? null, page.limit],
      )
      return rows.map(fromRow)
    },

    async setBroadcastFooter(id: string, footer: string | null): Promise<StoredAccount | undefined> {
      const { count } = await prisma.account.updateMany({ where: { id }, data: { broadcastFooter: footer } })
      return count === 0 ? undefined : find(id)
    },

    /**
     * Suspends the account; suspending it again keeps the time of the first suspension and takes
     * the new reason. Undefined without the account.
     */
    async suspend(id: string, reason: string): Promise<StoredAccount | undefined> {
      const { rows } = await pool.query<AccountRow>(
        `UPDATE accounts SET suspended_at = coalesce(suspended_at, now()), suspended_reason = $2
          WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, reason],
      )
      return rows[0] ? fromRow(rows[0]) : undefined
    },

    /** Sets the account's own retention (null: the default); undefined without the account. */
    async setRetention(id: string, bodyDays: number | null, metadataDays: number | null): Promise<StoredAccount | undefined> {
      const { rows } = await pool.query<AccountRow>(
        `UPDATE accounts SET body_retention_days = $2, metadata_retention_days = $3 WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, bodyDays, metadataDays],
      )
      return rows[0] ? fromRow(rows[0]) : undefined
    },

    /** Lifts a suspension (a no-op on an account not suspended); undefined without the account. */
    async unsuspend(id: string): Promise<StoredAccount | undefined> {
      const { rows } = await pool.query<AccountRow>(
        `UPDATE accounts SET suspended_at = NULL, suspended_reason = NULL WHERE id = $1 RETURNING ${COLUMNS}`,
        [id],
      )
      return rows[0] ? fromRow(rows[0]) : undefined
    },

    /**
     * Sets (or with null removes) the account's quota for one stream, merged into the limits it had
     * unless `replace`; returns all its quotas, undefined without the account.
     */
    async setQuota(
      id: string,
      stream: string,
      quota: { day?: number; month?: number } | null,
      replace = false,
    ): Promise<AccountQuotas | undefined> {
      const { rows } = await pool.query<{ quotas: unknown }>(
        `UPDATE accounts SET quotas = CASE WHEN $3::jsonb IS NULL THEN quotas - $2
                                          WHEN $4::boolean THEN jsonb_set(quotas, ARRAY[$2], $3::jsonb)
                                          ELSE jsonb_set(quotas, ARRAY[$2], coalesce(quotas -> $2, '{}') || $3::jsonb) END
          WHERE id = $1 RETURNING quotas`,
        [id, stream, quota === null ? null : JSON.stringify(quota), replace],
      )
      return rows[0] ? quotasOf(rows[0].quotas) : undefined
    },

    async exists(id: string): Promise<boolean> {
      return (await prisma.account.count({ where: { id } })) > 0
    },
  })
}

export type AccountRepository = ReturnType<typeof createAccountRepository>
