import type { PrismaClient } from '../../infra/db.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { ApiKeyService } from '../api-keys/api-key.service.js'

export function createAccountService(deps: { prisma: PrismaClient; apiKeys: Pick<ApiKeyService, 'create'> }) {
  return {
    /** Creates a tenant with one full-scope key, returned once. */
    async create(name: string) {
      const account = await deps.prisma.account.create({ data: { id: uuidv7(), name } })
      const { key } = await deps.apiKeys.create({ accountId: account.id, scope: 'full', name: 'initial' })
      return { account, key }
    },

    async exists(id: string): Promise<boolean> {
      return (await deps.prisma.account.count({ where: { id } })) > 0
    },
  }
}

export type AccountService = ReturnType<typeof createAccountService>
