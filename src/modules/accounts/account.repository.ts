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

export function createAccountRepository({ prisma }: RepositoryDeps) {
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

    async exists(id: string): Promise<boolean> {
      return (await prisma.account.count({ where: { id } })) > 0
    },
  })
}

export type AccountRepository = ReturnType<typeof createAccountRepository>
