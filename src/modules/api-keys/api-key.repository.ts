import type { Pool, PrismaClient } from '../../infra/db.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { ApiKeyScope } from './api-key.types.js'

export interface StoredKey {
  id: string
  accountId: string
  keyId: string
  secretHash: Buffer
  scope: ApiKeyScope
  name: string | null
  createdAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}

export function createApiKeyRepository(prisma: PrismaClient, pool: Pool) {
  return {
    async insert(input: { accountId: string; keyId: string; secretHash: Buffer; scope: ApiKeyScope; name: string | null }) {
      return (await prisma.apiKey.create({
        data: { id: uuidv7(), ...input, secretHash: new Uint8Array(input.secretHash) },
      })) as unknown as StoredKey
    },

    /** Active keys by public id, many at once: authentication lookups are batched. */
    async findActiveByKeyIds(keyIds: string[]): Promise<StoredKey[]> {
      const { rows } = await pool.query(
        `SELECT id, account_id AS "accountId", key_id AS "keyId", secret_hash AS "secretHash", scope
           FROM api_keys WHERE key_id = ANY($1::text[]) AND revoked_at IS NULL`,
        [keyIds],
      )
      return rows as StoredKey[]
    },

    async list(accountId: string): Promise<StoredKey[]> {
      return (await prisma.apiKey.findMany({
        where: { accountId },
        orderBy: { createdAt: 'desc' },
      })) as unknown as StoredKey[]
    },

    /** Returns the revoked key, or undefined when the account has no such key. */
    async revoke(accountId: string, id: string): Promise<StoredKey | undefined> {
      const existing = await prisma.apiKey.findFirst({ where: { id, accountId } })
      if (!existing) return undefined
      return (await prisma.apiKey.update({
        where: { id },
        data: { revokedAt: existing.revokedAt ?? new Date() },
      })) as unknown as StoredKey
    },

    async touch(ids: string[]): Promise<void> {
      await pool.query('UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::uuid[])', [ids])
    },
  }
}

export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>
