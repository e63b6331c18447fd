import type { Pool, PrismaClient } from '../../infra/db.js'
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

export function createDomainRepository(prisma: PrismaClient, pool: Pool) {
  return {
    /** Inserts the domain; undefined when the account already has one of that name. */
    async insert(domain: NewDomain): Promise<StoredDomain | undefined> {
      const { rows } = await pool.query(
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
      return rows.length === 0 ? undefined : this.find(domain.accountId, domain.id)
    },

    async find(accountId: string, id: string): Promise<StoredDomain | undefined> {
      return ((await prisma.domain.findFirst({ where: { id, accountId } })) ?? undefined) as StoredDomain | undefined
    },

    async findByName(accountId: string, name: string): Promise<StoredDomain | undefined> {
      return ((await prisma.domain.findFirst({ where: { accountId, name } })) ?? undefined) as StoredDomain | undefined
    },

    /** Newest first; `before` is the id of the last domain of the previous page (ids are UUIDv7). */
    async list(accountId: string, page: { limit: number; before?: string }): Promise<StoredDomain[]> {
      return (await prisma.domain.findMany({
        where: { accountId, ...(page.before ? { id: { lt: page.before } } : {}) },
        orderBy: { id: 'desc' },
        take: page.limit,
      })) as unknown as StoredDomain[]
    },

    /** True when the account had the domain. */
    async remove(accountId: string, id: string): Promise<boolean> {
      return (await prisma.domain.deleteMany({ where: { id, accountId } })).count > 0
    },

    async saveCheck(id: string, check: { records: DnsRecord[]; verifiedAt: Date | null; checkedAt: Date }): Promise<StoredDomain> {
      return (await prisma.domain.update({
        where: { id },
        data: { records: check.records as object[], verifiedAt: check.verifiedAt, checkedAt: check.checkedAt },
      })) as unknown as StoredDomain
    },
  }
}

export type DomainRepository = ReturnType<typeof createDomainRepository>
