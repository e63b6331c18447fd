import { notFound } from '../../lib/errors.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { ApiKeyService } from '../api-keys/api-key.service.js'
import { checkFooter } from '../emails/broadcast-footer.js'
import type { AccountRepository, StoredAccount } from './account.repository.js'

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

    async get(id: string): Promise<StoredAccount> {
      const account = await repository.find(id)
      if (!account) throw notFound('Account')
      return account
    },

    /** Sets (or with null removes) the footer of the account's broadcast mail; sends use it from their next key lookup. */
    async setBroadcastFooter(id: string, footer: string | null): Promise<StoredAccount> {
      const account = await repository.setBroadcastFooter(id, checkFooter(footer))
      if (!account) throw notFound('Account')
      return account
    },
  }
}

export type AccountService = ReturnType<typeof createAccountService>
