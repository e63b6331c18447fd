import { type ErrorDetail, notFound, validationFailed } from '../../lib/errors.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { ApiKeyService } from '../api-keys/api-key.service.js'
import { checkFooter } from '../emails/broadcast-footer.js'
import { STREAM_NAME_RE } from '../streams/streams.js'
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

    /**
     * Sets the account's quota for a stream (recipients per UTC day and/or month; null removes it,
     * and the stream's default from STREAMS applies again). Sends see it from their next key lookup.
     */
    async setQuota(id: string, stream: string, quota: { day?: number; month?: number } | null): Promise<unknown> {
      const problems: ErrorDetail[] = []
      if (!STREAM_NAME_RE.test(stream)) problems.push({ path: '/stream', message: 'is not a stream name' })
      for (const key of ['day', 'month'] as const) {
        const n = quota?.[key]
        if (n !== undefined && !(Number.isInteger(n) && n >= 0))
          problems.push({ path: `/${key}`, message: 'must be a whole number of recipients (0 or more)' })
      }
      if (quota && quota.day === undefined && quota.month === undefined)
        problems.push({ path: '/day', message: 'give a day or a month limit (or clear the quota)' })
      if (problems.length > 0) throw validationFailed(problems)
      const quotas = await repository.setQuota(id, stream, quota)
      if (quotas === undefined) throw notFound('Account')
      return quotas
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
