import type { Domain } from '../../generated/prisma/client.js'
import { withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import type { DnsRecord } from './domain.types.js'

/** A domains row. Private keys are sealed (secret box); public keys are the p= values. */
export interface StoredDomain {
  id: string
  accountId: string
  name: string
  dkimSelector: string
  dkimPrivateKey: string
  dkimPublicKey: string
  ed25519PrivateKey: string | null
  ed25519PublicKey: string | null
  returnPathDomain: string
  records: DnsRecord[]
  verifiedAt: Date | null
  checkedAt: Date | null
  createdAt: Date
}

export type NewDomain = Omit<StoredDomain, 'verifiedAt' | 'checkedAt' | 'createdAt'>

/** The sealed keys of one row, as the re-sealing migration reads and rewrites them. */
export interface SealedKeys {
  id: string
  accountId: string
  name: string
  dkimPrivateKey: string
  ed25519PrivateKey: string | null
}

interface SealedKeysRow {
  id: string
  account_id: string
  name: string
  dkim_private_key: string
  ed25519_private_key: string | null
}

const RECORD_FIELDS = ['type', 'name', 'value', 'purpose', 'status'] as const

/** `records` is a JSON column this module alone writes; entries without the fields a record has are dropped. */
const isDnsRecord = (value: unknown): value is DnsRecord =>
  value !== null && typeof value === 'object' && RECORD_FIELDS.every((f) => typeof (value as Record<string, unknown>)[f] === 'string')

const storedDomain = (row: Domain): StoredDomain => ({
  id: row.id,
  accountId: row.accountId,
  name: row.name,
  dkimSelector: row.dkimSelector,
  dkimPrivateKey: row.dkimPrivateKey,
  dkimPublicKey: row.dkimPublicKey,
  ed25519PrivateKey: row.ed25519PrivateKey,
  ed25519PublicKey: row.ed25519PublicKey,
  returnPathDomain: row.returnPathDomain,
  records: Array.isArray(row.records) ? row.records.flatMap((r) => (isDnsRecord(r) ? [r] : [])) : [],
  verifiedAt: row.verifiedAt,
  checkedAt: row.checkedAt,
  createdAt: row.createdAt,
})

export function createDomainRepository({ pool, prisma }: RepositoryDeps) {
  const find = async (accountId: string, id: string): Promise<StoredDomain | undefined> => {
    const row = await prisma.domain.findFirst({ where: { id, accountId } })
    return row ? storedDomain(row) : undefined
  }

  return guardRepository({
    /** Inserts the domain; undefined when the account already has one of that name. */
    async insert(domain: NewDomain): Promise<StoredDomain | undefined> {
      const { rows } = await pool.query<{ id: string }>(
        `INSERT INTO domains (id, account_id, name, dkim_selector, dkim_private_key, dkim_public_key,
                              ed25519_private_key, ed25519_public_key, return_path_domain, records)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (account_id, name) DO NOTHING RETURNING id`,
        [
          domain.id,
          domain.accountId,
          domain.name,
          domain.dkimSelector,
          domain.dkimPrivateKey,
          domain.dkimPublicKey,
          domain.ed25519PrivateKey,
          domain.ed25519PublicKey,
          domain.returnPathDomain,
          JSON.stringify(domain.records),
        ],
      )
      return rows.length === 0 ? undefined : find(domain.accountId, domain.id)
    },

    find,

    async findByName(accountId: string, name: string): Promise<StoredDomain | undefined> {
      const row = await prisma.domain.findFirst({ where: { accountId, name } })
      return row ? storedDomain(row) : undefined
    },

    async count(accountId: string): Promise<number> {
      return prisma.domain.count({ where: { accountId } })
    },

    /** Newest first; `before` is the id of the last domain of the previous page (ids are UUIDv7). */
    async list(accountId: string, page: { limit: number; before?: string }): Promise<StoredDomain[]> {
      const rows = await prisma.domain.findMany({
        where: { accountId, ...(page.before ? { id: { lt: page.before } } : {}) },
        orderBy: { id: 'desc' },
        take: page.limit,
      })
      return rows.map(storedDomain)
    },

    /** True when the account had the domain. */
    async remove(accountId: string, id: string): Promise<boolean> {
      return (await prisma.domain.deleteMany({ where: { id, accountId } })).count > 0
    },

    /**
     * Stores the result of a DNS check, in one statement scoped by account; undefined when the
     * account no longer has the domain (deleted while it was being checked).
     */
    async saveCheck(
      accountId: string,
      id: string,
      check: { records: DnsRecord[]; verifiedAt: Date | null; checkedAt: Date },
    ): Promise<StoredDomain | undefined> {
      const [row] = await prisma.domain.updateManyAndReturn({
        where: { id, accountId },
        data: { records: check.records.map((r) => ({ ...r })), verifiedAt: check.verifiedAt, checkedAt: check.checkedAt },
      })
      return row ? storedDomain(row) : undefined
    },

    /** The rows (of every account) holding a key sealed in the given format (`v1.` for the re-sealing migration). */
    async withSealedPrefix(prefix: string): Promise<Array<{ accountId: string; id: string }>> {
      const { rows } = await pool.query<{ id: string; account_id: string }>(
        `SELECT id, account_id FROM domains WHERE starts_with(dkim_private_key, $1) OR starts_with(ed25519_private_key, $1) ORDER BY id`,
        [prefix],
      )
      return rows.map((row) => ({ accountId: row.account_id, id: row.id }))
    },

    /**
     * Rewrites one row's sealed keys in one transaction, the row locked while `rewrite` decides:
     * true when something changed, false when the account no longer has the row or `rewrite`
     * kept both keys.
     */
    async rewriteSealedKeys(
      accountId: string,
      id: string,
      rewrite: (keys: SealedKeys) => Omit<SealedKeys, 'id' | 'accountId' | 'name'>,
    ): Promise<boolean> {
      return withTransaction(pool, async (client) => {
        const { rows } = await client.query<SealedKeysRow>(
          'SELECT id, account_id, name, dkim_private_key, ed25519_private_key FROM domains WHERE id = $1 AND account_id = $2 FOR UPDATE',
          [id, accountId],
        )
        const row = rows[0]
        if (!row) return false
        const keys: SealedKeys = {
          id: row.id,
          accountId: row.account_id,
          name: row.name,
          dkimPrivateKey: row.dkim_private_key,
          ed25519PrivateKey: row.ed25519_private_key,
        }
        const next = rewrite(keys)
        if (next.dkimPrivateKey === keys.dkimPrivateKey && next.ed25519PrivateKey === keys.ed25519PrivateKey) return false
        await client.query('UPDATE domains SET dkim_private_key = $3, ed25519_private_key = $4 WHERE id = $1 AND account_id = $2', [
          id,
          accountId,
          next.dkimPrivateKey,
          next.ed25519PrivateKey,
        ])
        return true
      })
    },
  })
}

export type DomainRepository = ReturnType<typeof createDomainRepository>
