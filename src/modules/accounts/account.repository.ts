import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'

export interface StoredAccount {
  id: string
  name: string
  broadcastFooter: string | null
  createdAt: Date
}

const stored = (row: StoredAccount): StoredAccount => ({
  id: row.id,
  name: row.name,
  broadcastFooter: row.broadcastFooter,
  createdAt: row.createdAt,
})

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

    async setBroadcastFooter(id: string, footer: string | null): Promise<StoredAccount | undefined> {
      const { count } = await prisma.account.updateMany({ where: { id }, data: { broadcastFooter: footer } })
      return count === 0 ? undefined : find(id)
    },

    /** Sets (or with null removes) the account's quota for one stream; returns all its quotas, undefined without the account. */
    async setQuota(id: string, stream: string, quota: { day?: number; month?: number } | null): Promise<unknown> {
      const { rows } = await pool.query<{ quotas: unknown }>(
        `UPDATE accounts SET quotas = CASE WHEN $3::jsonb IS NULL THEN quotas - $2
                                          ELSE jsonb_set(quotas, ARRAY[$2], coalesce(quotas -> $2, '{}') || $3::jsonb) END
          WHERE id = $1 RETURNING quotas`,
        [id, stream, quota === null ? null : JSON.stringify(quota)],
      )
      return rows[0]?.quotas
    },

    async exists(id: string): Promise<boolean> {
      return (await prisma.account.count({ where: { id } })) > 0
    },
  })
}

export type AccountRepository = ReturnType<typeof createAccountRepository>
