import { type ErrorDetail, notFound, validationFailed } from '../../lib/errors.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { ApiKeyService } from '../api-keys/api-key.service.js'
import type { AccountQuotas, ApiKeyScope } from '../api-keys/api-key.types.js'
import { checkFooter } from '../emails/broadcast-footer.js'
import { STREAM_NAME_RE, type Streams } from '../streams/streams.js'
import type { AccountRepository, StoredAccount } from './account.repository.js'
import { checkAccountName, checkSuspendReason } from './account.text.js'

export function createAccountService(deps: {
  repository: AccountRepository
  apiKeys: Pick<ApiKeyService, 'create'>
  /** The configured streams: a quota is set only for one of them. Without, any stream name is taken. */
  streams?: Pick<Streams, 'has' | 'names'>
}) {
  const { repository, apiKeys, streams } = deps

  const found = (account: StoredAccount | undefined): StoredAccount => {
    if (!account) throw notFound('Account')
    return account
  }

  return {
    /** Creates a tenant with one full-scope key, returned once. */
    async create(name: string) {
      const account = await repository.insert({ id: uuidv7(), name: checkAccountName(name) })
      const { key, apiKey } = await apiKeys.create({ accountId: account.id, scope: 'full', name: 'initial' })
      return { account, key, apiKey }
    },

    async exists(id: string): Promise<boolean> {
      return repository.exists(id)
    },

    async get(id: string): Promise<StoredAccount> {
      return found(await repository.find(id))
    },

    /** Newest first; `before` is the id of the last account of the previous page, `q` part of the name (any case). */
    async list(page: { limit: number; before?: string; q?: string }): Promise<StoredAccount[]> {
      const q = page.q?.trim()
      return repository.list({ limit: page.limit, before: page.before, q: q ? q : undefined })
    },

    /**
     * Suspends the account: its keys are refused (403 account_suspended) from their next request,
     * over HTTP and SMTP, and the claim hands none of its queued mail to SMTP until it is lifted
     * (mail still expires at MAX_DELIVERY_AGE). Suspending again keeps the first time and takes
     * the new reason.
     */
    async suspend(id: string, reason: string): Promise<StoredAccount> {
      return found(await repository.suspend(id, checkSuspendReason(reason)))
    },

    /** Lifts a suspension: the keys work again at once, and the sweeper re-dispatches the held mail. */
    async unsuspend(id: string): Promise<StoredAccount> {
      return found(await repository.unsuspend(id))
    },

    /**
     * Sets how many days the account's ended mail keeps its bodies and attachments, and its
     * metadata (recipients, attempts, events); null for the deployment's default. Bodies cannot
     * outlive the metadata they belong to.
     */
    async setRetention(id: string, retention: { bodyDays: number | null; metadataDays: number | null }): Promise<StoredAccount> {
      const problems: ErrorDetail[] = []
      for (const [key, path] of [
        ['bodyDays', '/body_days'],
        ['metadataDays', '/metadata_days'],
      ] as const) {
        const n = retention[key]
        if (n !== null && (!Number.isInteger(n) || n < 1 || n > 3650))
          problems.push({ path, message: 'must be a whole number of days, 1 to 3650, or null' })
      }
      const { bodyDays, metadataDays } = retention
      if (problems.length === 0 && bodyDays !== null && metadataDays !== null && bodyDays > metadataDays) {
        problems.push({ path: '/body_days', message: 'must be at most metadata_days: a body goes with its email' })
      }
      if (problems.length > 0) throw validationFailed(problems)
      return found(await repository.setRetention(id, bodyDays, metadataDays))
    },

    /** A new key for the account; the token is returned here once. */
    async createKey(id: string, input: { scope: ApiKeyScope; name?: string | null }) {
      if (!(await repository.exists(id))) throw notFound('Account')
      return apiKeys.create({ accountId: id, scope: input.scope, name: input.name })
    },

    /**
     * Sets the account's quota for a stream (recipients per UTC day and/or month; null removes it,
     * and the stream's default from STREAMS applies again). The limits given are merged into the
     * ones set before, unless `replace`. Sends see it from their next key lookup.
     */
    async setQuota(
      id: string,
      stream: string,
      quota: { day?: number; month?: number } | null,
      options: { replace?: boolean } = {},
    ): Promise<AccountQuotas> {
      const problems: ErrorDetail[] = []
      if (!STREAM_NAME_RE.test(stream)) problems.push({ path: '/stream', message: 'is not a stream name' })
      // A quota is cleared for any stream (one no longer configured included), set only for a configured one.
      else if (quota && streams && !streams.has(stream))
        problems.push({ path: '/stream', message: `is not a configured stream (STREAMS): use one of ${streams.names.join(', ')}` })
      for (const key of ['day', 'month'] as const) {
        const n = quota?.[key]
        if (n !== undefined && !(Number.isInteger(n) && n >= 0))
          problems.push({ path: `/${key}`, message: 'must be a whole number of recipients (0 or more)' })
      }
      if (quota && quota.day === undefined && quota.month === undefined)
        problems.push({ path: '/day', message: 'give a day or a month limit (or clear the quota)' })
      if (problems.length > 0) throw validationFailed(problems)
      const quotas = await repository.setQuota(id, stream, quota, options.replace === true)
      if (quotas === undefined) throw notFound('Account')
      return quotas
    },

    /** Sets (or with null removes) the footer of the account's broadcast mail; sends use it from their next key lookup. */
    async setBroadcastFooter(id: string, footer: string | null): Promise<StoredAccount> {
      return found(await repository.setBroadcastFooter(id, checkFooter(footer)))
    },
  }
}

export type AccountService = ReturnType<typeof createAccountService>
