import { uuidv7 } from '../../lib/uuid.js'
import type { ApiKeyService } from '../api-keys/api-key.service.js'
import type { AccountRepository } from './account.repository.js'

export function createAccountService(deps: { repository: AccountRepository; apiKeys: Pick<ApiKeyService, 'create'> }) {
  const { repository, apiKeys } = deps
  return {
    /** Creates a tenant with one full-scope key, returned once. */
    async create(name: string) {
      const account = await repository.insert({ id: uuidv7(), name })
      const { key } = await apiKeys.create({ accountId: account.id, scope: 'full', name: 'initial' })
      return { account, key }
    },

    async exists(id: string): Promise<boolean> {
      return repository.exists(id)
    },
  }
}

export type AccountService = ReturnType<typeof createAccountService>
