import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'

export interface StoredAccount {
  id: string
  name: string
  createdAt: Date
}

export function createAccountRepository({ prisma }: RepositoryDeps) {
  return guardRepository({
    async insert(account: { id: string; name: string }): Promise<StoredAccount> {
      const row = await prisma.account.create({ data: account })
      return { id: row.id, name: row.name, createdAt: row.createdAt }
    },

    async exists(id: string): Promise<boolean> {
      return (await prisma.account.count({ where: { id } })) > 0
    },
  })
}

export type AccountRepository = ReturnType<typeof createAccountRepository>
