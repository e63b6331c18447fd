import type { ApiKey } from '../../generated/prisma/client.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { AccountQuotas, ApiKeyScope } from './api-key.types.js'

export interface StoredKey {
  id: string
  accountId: string
  keyId: string
  secretHash: Uint8Array
  scope: ApiKeyScope
  name: string | null
  createdAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}

/** What authentication needs of a key. */
export type ActiveKey = Pick<StoredKey, 'id' | 'accountId' | 'keyId' | 'secretHash' | 'scope'> & {
  /** The account's footer for broadcast mail, read with the key: sends need no second lookup. */
  broadcastFooter: string | null
  /** The account's own quotas per stream (accounts.quotas), read with the key too. */
  quotas: AccountQuotas
  /** The operator suspended the account: its keys are refused (with a reason of their own, not as invalid). */
  suspended: boolean
}

interface ActiveKeyRow {
  id: string
  account_id: string
  key_id: string
  secret_hash: Buffer
  scope: ApiKeyScope
  broadcast_footer: string | null
  quotas: unknown
  suspended: boolean
}

/** accounts.quotas as stored ({"<stream>": {"day": n, "month": n}}), keeping only well-formed entries. */
export function accountQuotas(value: unknown): AccountQuotas {
  const out: AccountQuotas = {}
  if (typeof value !== 'object' || value === null) return out
  for (const [stream, q] of Object.entries(value as Record<string, unknown>)) {
    if (typeof q !== 'object' || q === null) continue
    const { day, month } = q as Record<string, unknown>
    const limit = (n: unknown) => (Number.isInteger(n) && (n as number) >= 0 ? (n as number) : undefined)
    out[stream] = { day: limit(day), month: limit(month) }
  }
  return out
}

const storedKey = (row: ApiKey): StoredKey => ({
  id: row.id,
  accountId: row.accountId,
  keyId: row.keyId,
  secretHash: row.secretHash,
  scope: row.scope,
  name: row.name,
  createdAt: row.createdAt,
  lastUsedAt: row.lastUsedAt,
  revokedAt: row.revokedAt,
})

export function createApiKeyRepository({ pool, prisma }: RepositoryDeps) {
  return guardRepository({
    async insert(input: {
      accountId: string
      keyId: string
      secretHash: Buffer
      scope: ApiKeyScope
      name: string | null
    }): Promise<StoredKey> {
      return storedKey(await prisma.apiKey.create({ data: { id: uuidv7(), ...input, secretHash: new Uint8Array(input.secretHash) } }))
    },

    /**
     * Active keys by public id, many at once: authentication lookups are batched. The one lookup
     * not scoped by account: it is how a request's account becomes known.
     */
    async findActiveByKeyIds(keyIds: string[]): Promise<ActiveKey[]> {
      const { rows } = await pool.query<ActiveKeyRow>(
        `SELECT k.id, k.account_id, k.key_id, k.secret_hash, k.scope, a.broadcast_footer, a.quotas,
                a.suspended_at IS NOT NULL AS suspended
           FROM api_keys k JOIN accounts a ON a.id = k.account_id
          WHERE k.key_id = ANY($1::text[]) AND k.revoked_at IS NULL`,
        [keyIds],
      )
      return rows.map((r) => ({
        id: r.id,
        accountId: r.account_id,
        keyId: r.key_id,
        secretHash: r.secret_hash,
        scope: r.scope,
        broadcastFooter: r.broadcast_footer,
        quotas: accountQuotas(r.quotas),
        suspended: r.suspended,
      }))
    },

    /** Newest first; `before` is the id of the last key of the previous page (ids are UUIDv7). */
    async list(accountId: string, page: { limit: number; before?: string }): Promise<StoredKey[]> {
      const rows = await prisma.apiKey.findMany({
        where: { accountId, ...(page.before ? { id: { lt: page.before } } : {}) },
        orderBy: { id: 'desc' },
        take: page.limit,
      })
      return rows.map(storedKey)
    },

    /** Returns the revoked key (revoked once: a second call keeps the first time), or undefined when the account has no such key. */
    async revoke(accountId: string, id: string): Promise<StoredKey | undefined> {
      await prisma.apiKey.updateMany({ where: { id, accountId, revokedAt: null }, data: { revokedAt: new Date() } })
      const key = await prisma.apiKey.findFirst({ where: { id, accountId } })
      return key ? storedKey(key) : undefined
    },

    /** Records that these keys were used just now. */
    async touch(keys: Array<{ accountId: string; id: string }>): Promise<void> {
      await pool.query(
        `UPDATE api_keys k SET last_used_at = now()
           FROM unnest($1::uuid[], $2::uuid[]) AS x(id, account_id)
          WHERE k.id = x.id AND k.account_id = x.account_id`,
        [keys.map((k) => k.id), keys.map((k) => k.accountId)],
      )
    },
  })
}

export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>
