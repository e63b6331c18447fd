import type { Logger } from '../../infra/logger.js'
import { createBatcher } from '../../lib/batcher.js'
import { AppError, notFound } from '../../lib/errors.js'
import type { ActiveKey, ApiKeyRepository, StoredKey } from './api-key.repository.js'
import { displayHint, generateKey, parseToken, secretMatches } from './api-key.token.js'
import type { ApiKeyScope, ApiKeyView, Principal } from './api-key.types.js'

const TOUCH_INTERVAL_MS = 60_000

const unauthorized = (message: string) => new AppError('unauthorized', message)

/** What the holder of a valid key of a suspended account is told; the operator's reason stays with the operator. */
export const ACCOUNT_SUSPENDED_MESSAGE =
  'This account is suspended: its API keys are refused and its mail is held. Contact the operator of this Hikyaku server.'

export function createApiKeyService(deps: { repository: ApiKeyRepository; logger: Logger }) {
  const { repository, logger } = deps

  // Concurrent requests share one lookup query; nothing is cached, so a revoked key fails on
  // its very next request in every process.
  const lookup = createBatcher<string, ActiveKey | undefined>({
    maxBatchSize: 200,
    concurrency: 2,
    run: async (keyIds) => {
      const rows = await repository.findActiveByKeyIds([...new Set(keyIds)])
      const byKeyId = new Map(rows.map((row) => [row.keyId, row]))
      return keyIds.map((keyId) => byKeyId.get(keyId))
    },
  })

  // last_used_at is informative only: written at most once a minute per key, off the request path.
  const lastTouched = new Map<string, number>()
  const touch = (key: ActiveKey): void => {
    const now = Date.now()
    if (now - (lastTouched.get(key.id) ?? 0) < TOUCH_INTERVAL_MS) return
    lastTouched.set(key.id, now)
    repository.touch([{ accountId: key.accountId, id: key.id }]).catch((err) => logger.warn({ err }, 'could not record key use'))
  }

  const view = (key: StoredKey): ApiKeyView => ({
    id: key.id,
    name: key.name,
    scope: key.scope,
    hint: displayHint(key.keyId),
    createdAt: key.createdAt,
    lastUsedAt: key.lastUsedAt,
    revokedAt: key.revokedAt,
  })

  return {
    /**
     * Resolves a bearer token to its principal; every failure is the same 401 to the caller, except
     * a valid key of a suspended account (403 account_suspended), told only to whoever holds the
     * secret. Nothing is cached, so a suspension refuses the account's very next request.
     */
    async authenticate(token: string | undefined): Promise<Principal> {
      if (!token) throw unauthorized('Missing API key: send "Authorization: Bearer hk_…"')
      const parsed = parseToken(token)
      if (!parsed) throw unauthorized('Malformed API key: expected hk_<id>_<secret>')
      const key = await lookup.push(parsed.keyId)
      if (!key || !secretMatches(parsed.secret, key.secretHash)) throw unauthorized('Invalid or revoked API key')
      if (key.suspended) throw new AppError('account_suspended', ACCOUNT_SUSPENDED_MESSAGE)
      touch(key)
      return {
        accountId: key.accountId,
        apiKeyId: key.id,
        keyId: key.keyId,
        scope: key.scope,
        broadcastFooter: key.broadcastFooter,
        quotas: key.quotas,
      }
    },

    /** Creates a key; the token is returned here once and never again. */
    async create(input: { accountId: string; scope: ApiKeyScope; name?: string | null }) {
      const generated = generateKey()
      const stored = await repository.insert({
        accountId: input.accountId,
        keyId: generated.keyId,
        secretHash: generated.secretHash,
        scope: input.scope,
        name: input.name ?? null,
      })
      return { key: generated.token, apiKey: view(stored) }
    },

    /** Newest first, revoked ones included; `before` is the id of the last key of the previous page. */
    async list(accountId: string, page: { limit: number; before?: string }): Promise<ApiKeyView[]> {
      return (await repository.list(accountId, page)).map(view)
    },

    async revoke(accountId: string, id: string): Promise<ApiKeyView> {
      const revoked = await repository.revoke(accountId, id)
      if (!revoked) throw notFound('API key')
      return view(revoked)
    },
  }
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>
