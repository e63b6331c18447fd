import type { PoolClient } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { uuidv7, uuidv7LowerBound } from '../../lib/uuid.js'
import {
  ALL_STREAMS,
  type ListSuppressionsFilter,
  type NewSuppression,
  type Suppression,
  type SuppressionReason,
} from './suppression.types.js'
import { foldAddress } from './suppression.validate.js'

type Queryable = Pick<PoolClient, 'query'>

/**
 * `foldAddress` in SQL, for a text expression: `lower` under the "C" collation folds exactly the
 * ASCII letters whatever the database's locale, and the result is put back in the default
 * collation so that comparing it with `suppressions.address` can use the unique index.
 */
export const foldAddressSql = (expression: string): string => `(lower((${expression}) COLLATE "C") COLLATE "default")`

/**
 * The condition under which the suppression row `s` stops mail to (account, folded address,
 * stream): its account and address, its stream or every stream (''), not expired. Every
 * statement that enforces the list (accept, claim, `lookupSuppressions`) uses it, as a lookup of
 * the unique index (account_id, address, stream).
 */
export const suppressionApplies = (s: string, account: string, foldedAddress: string, stream: string): string =>
  `${s}.account_id = ${account} AND ${s}.address = ${foldedAddress} AND ${s}.stream IN (${stream}, '')
     AND (${s}.expires_at IS NULL OR ${s}.expires_at > now())`

// Every question asked of the list compares expiries with the database's clock (`now()`), the
// clock the accept and claim checks use, so an entry never applies in one place and not another.
const LIVE = '(s.expires_at IS NULL OR s.expires_at > now())'

interface SuppressionRow {
  id: string
  account_id: string
  address: string
  stream: string
  reason: SuppressionReason
  source: unknown
  expires_at: Date | null
  created_at: Date
}

const COLUMNS = 's.id, s.account_id, s.address, s.stream, s.reason, s.source, s.expires_at, s.created_at'

const suppression = (row: SuppressionRow): Suppression => ({
  id: row.id,
  accountId: row.account_id,
  address: row.address,
  stream: row.stream === ALL_STREAMS ? null : row.stream,
  reason: row.reason,
  // A JSON column this module and the feedback loop write; anything but an object reads as none.
  source:
    row.source !== null && typeof row.source === 'object' && !Array.isArray(row.source) ? (row.source as Record<string, unknown>) : {},
  expiresAt: row.expires_at,
  createdAt: row.created_at,
})

/**
 * Adds entries, many in one statement. An entry already on the list (same account, address and
 * stream) is merged, never shortened:
 * - one that had expired is replaced: a new id, reason, source, expiry and creation time;
 * - a live `manual` entry takes a feedback reason (a bounce, a complaint, an unsubscribe) and its source;
 * - a live entry's expiry only grows: a permanent one (no expiry) stays permanent, and an entry
 *   without an expiry makes it permanent.
 * Rows that would change nothing are not written. Rows naming the same entry twice are first
 * reduced to the strongest (a feedback reason over `manual`, then the longest expiry), since one
 * statement may not update a row twice.
 */
export const suppressionUpsertSql = (param: string) => `
INSERT INTO suppressions AS s (id, account_id, address, stream, reason, source, expires_at, created_at)
SELECT DISTINCT ON (account_id, address, stream) id, account_id, address, stream, reason, source, expires_at, created_at
  FROM json_to_recordset(${param}::json) AS x(id uuid, account_id uuid, address text, stream text, reason "SuppressionReason",
    source jsonb, expires_at timestamptz, created_at timestamptz)
 ORDER BY account_id, address, stream, reason = 'manual', expires_at DESC NULLS FIRST, reason
ON CONFLICT (account_id, address, stream) DO UPDATE SET
  id = CASE WHEN s.expires_at <= now() THEN EXCLUDED.id ELSE s.id END,
  reason = CASE WHEN s.expires_at <= now() OR (s.reason = 'manual' AND EXCLUDED.reason <> 'manual') THEN EXCLUDED.reason ELSE s.reason END,
  source = CASE WHEN s.expires_at <= now() OR (s.reason = 'manual' AND EXCLUDED.reason <> 'manual') THEN EXCLUDED.source ELSE s.source END,
  expires_at = CASE WHEN s.expires_at <= now() THEN EXCLUDED.expires_at
                    WHEN s.expires_at IS NULL OR EXCLUDED.expires_at IS NULL THEN NULL
                    ELSE greatest(s.expires_at, EXCLUDED.expires_at) END,
  created_at = CASE WHEN s.expires_at <= now() THEN EXCLUDED.created_at ELSE s.created_at END
WHERE s.expires_at <= now()
   OR (s.reason = 'manual' AND EXCLUDED.reason <> 'manual')
   OR (s.expires_at IS NOT NULL AND (EXCLUDED.expires_at IS NULL OR EXCLUDED.expires_at > s.expires_at))
RETURNING ${COLUMNS}`
const UPSERT_SQL = suppressionUpsertSql('$1')

/** The rows of an upsert, for a caller that folds `suppressionUpsertSql` into a larger statement. */
export const suppressionRowsJson = (rows: NewSuppression[]) => JSON.stringify(upsertRows(rows))

/** Rows as `UPSERT_SQL` reads them, with the ids and times made here (ids are UUIDv7 of their creation time). */
function upsertRows(rows: NewSuppression[]) {
  const now = Date.now()
  return rows.map((r) => ({
    id: uuidv7(now),
    account_id: r.accountId,
    address: foldAddress(r.address),
    stream: r.stream ?? ALL_STREAMS,
    reason: r.reason,
    source: r.source ?? {},
    expires_at: r.expiresAt?.toISOString() ?? null,
    created_at: new Date(now).toISOString(),
  }))
}

/** What an upsert did: the rows it wrote, each marked created (new, or renewed after expiring) or updated. */
async function upsert(db: Queryable, rows: NewSuppression[]): Promise<Array<{ suppression: Suppression; created: boolean }>> {
  if (rows.length === 0) return []
  const values = upsertRows(rows)
  const ids = new Set(values.map((v) => v.id))
  const { rows: written } = await db.query<SuppressionRow>(UPSERT_SQL, [JSON.stringify(values)])
  return written.map((row) => ({ suppression: suppression(row), created: ids.has(row.id) }))
}

/**
 * Adds suppressions in one statement, for callers inside their own transaction (the feedback
 * loop, after a hard bounce or a complaint): see `UPSERT_SQL` for how an existing entry is merged.
 * Addresses are folded here (`foldAddress`); a missing stream means every stream of the account.
 */
export async function insertSuppressions(db: Queryable, rows: NewSuppression[]): Promise<{ created: number; updated: number }> {
  const written = await upsert(db, rows)
  const created = written.filter((w) => w.created).length
  return { created, updated: written.length - created }
}

/** One address to look up: suppressed for this account and stream (or every stream)? */
export interface SuppressionProbe {
  accountId: string
  stream: string
  /** Folded (`foldAddress`). */
  address: string
}

const probeKey = (p: SuppressionProbe) => `${p.accountId}\n${p.stream}\n${p.address}`

/**
 * The live suppressions that apply to each probe, in one statement over the unique index
 * (account, address, stream): one probe per distinct (account, address, stream), matching the
 * stream's own entry and the account-wide one; the reason that comes first in the enum wins
 * when both apply. The answer maps a probe (folded address) to its reason.
 */
export async function lookupSuppressions(
  db: Queryable,
  probes: SuppressionProbe[],
): Promise<(probe: SuppressionProbe) => SuppressionReason | undefined> {
  const distinct = new Map(probes.map((p) => [probeKey(p), p]))
  if (distinct.size === 0) return () => undefined
  const list = [...distinct.values()]
  const { rows } = await db.query<{ account_id: string; stream: string; address: string; reason: SuppressionReason }>(
    `SELECT k.account_id, k.stream, k.address, min(s.reason) AS reason
       FROM unnest($1::uuid[], $2::text[], $3::text[]) AS k(account_id, stream, address)
       JOIN suppressions s ON ${suppressionApplies('s', 'k.account_id', 'k.address', 'k.stream')}
      GROUP BY k.account_id, k.stream, k.address`,
    [list.map((p) => p.accountId), list.map((p) => p.stream), list.map((p) => p.address)],
  )
  const found = new Map(rows.map((row) => [probeKey({ accountId: row.account_id, stream: row.stream, address: row.address }), row.reason]))
  return (probe) => found.get(probeKey(probe))
}

/**
 * Which of `addresses` the account may not mail on `stream` (its entries for that stream and
 * its account-wide ones, unexpired), in one indexed statement: a map from each suppressed
 * address, as given, to its reason. Addresses are compared folded (`foldAddress`).
 */
export async function findSuppressed(
  db: Queryable,
  accountId: string,
  addresses: string[],
  stream: string,
): Promise<Map<string, SuppressionReason>> {
  const reasonOf = await lookupSuppressions(
    db,
    addresses.map((address) => ({ accountId, stream, address: foldAddress(address) })),
  )
  const found = new Map<string, SuppressionReason>()
  for (const address of addresses) {
    const reason = reasonOf({ accountId, stream, address: foldAddress(address) })
    if (reason) found.set(address, reason)
  }
  return found
}

/**
 * The suppression list of each account: every statement is scoped by account, and an entry
 * that has expired is treated as gone (not listed, not found; re-adding it renews it).
 */
export function createSuppressionRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    /**
     * Newest first, filtered (see ListSuppressionsFilter), over the (account, id) index. An
     * address filter is an equality on the unique index. A domain filter cannot use an index
     * (the domain is the end of the address: a suffix match), so it is a scan of the account's
     * entries in id order that stops at `limit` matches; the account filter and the page bound
     * keep it to one account, and the statement timeout bounds an account with very many
     * entries and few at that domain.
     */
    async list(accountId: string, f: ListSuppressionsFilter): Promise<Suppression[]> {
      const where = ['s.account_id = $1', LIVE]
      const params: unknown[] = [accountId]
      const add = (sql: (p: string) => string, value: unknown) => {
        params.push(value)
        where.push(sql(`$${params.length}`))
      }
      if (f.address !== undefined) add((p) => `s.address = ${p}`, f.address)
      if (f.domain !== undefined) add((p) => `right(s.address, char_length(${p})) = ${p}`, `@${f.domain}`)
      if (f.reason !== undefined) add((p) => `s.reason = ${p}::"SuppressionReason"`, f.reason)
      if (f.stream !== undefined) add((p) => `s.stream IN (${p}, '')`, f.stream)
      if (f.before !== undefined) add((p) => `s.id < ${p}::uuid`, f.before)
      // Ids are UUIDv7 of the creation time: a time range is an id range.
      if (f.createdAfter) add((p) => `s.id >= ${p}::uuid`, uuidv7LowerBound(f.createdAfter))
      if (f.createdBefore) add((p) => `s.id < ${p}::uuid`, uuidv7LowerBound(f.createdBefore))
      params.push(f.limit)
      const { rows } = await pool.query<SuppressionRow>(
        `SELECT ${COLUMNS} FROM suppressions s WHERE ${where.join(' AND ')} ORDER BY s.id DESC LIMIT $${params.length}`,
        params,
      )
      return rows.map(suppression)
    },

    /** The live entry for (address, stream); `stream` null is the account-wide entry. */
    async find(accountId: string, address: string, stream: string | null): Promise<Suppression | undefined> {
      const { rows } = await pool.query<SuppressionRow>(
        `SELECT ${COLUMNS} FROM suppressions s WHERE s.account_id = $1 AND s.address = $2 AND s.stream = $3 AND ${LIVE}`,
        [accountId, address, stream ?? ALL_STREAMS],
      )
      const row = rows[0]
      return row ? suppression(row) : undefined
    },

    /**
     * Adds one entry (merged with an existing one as `insertSuppressions` does) and returns the
     * entry as it now is: `created` when there was none (or only an expired one).
     */
    async add(entry: NewSuppression): Promise<{ suppression: Suppression; created: boolean }> {
      const address = foldAddress(entry.address)
      const stream = entry.stream ?? ALL_STREAMS
      // Twice at most: an entry that another request inserts meanwhile is not in this
      // statement's snapshot the first time (the insert waits for it, then changes nothing).
      for (let round = 0; ; round++) {
        const [written] = await upsert(pool, [entry])
        if (written) return written
        const { rows } = await pool.query<SuppressionRow>(
          `SELECT ${COLUMNS} FROM suppressions s WHERE s.account_id = $1 AND s.address = $2 AND s.stream = $3 AND ${LIVE}`,
          [entry.accountId, address, stream],
        )
        const row = rows[0]
        if (row) return { suppression: suppression(row), created: false }
        if (round >= 1) throw new Error(`suppression of ${entry.accountId} for ${address} vanished while being added`)
      }
    },

    /** Deletes the entry for (address, stream); true when a live one was deleted (an expired one goes too, but counts as absent). */
    async remove(accountId: string, address: string, stream: string | null): Promise<boolean> {
      const { rows } = await pool.query<{ live: boolean }>(
        `DELETE FROM suppressions s WHERE s.account_id = $1 AND s.address = $2 AND s.stream = $3 RETURNING ${LIVE} AS live`,
        [accountId, address, stream ?? ALL_STREAMS],
      )
      return rows.some((row) => row.live)
    },

    /** Adds many entries in one statement (all or nothing); see `insertSuppressions`. */
    async addMany(rows: NewSuppression[]): Promise<{ created: number; updated: number }> {
      return insertSuppressions(pool, rows)
    },

    /** One page of the account's live entries in id order after `after` (an export's keyset). */
    async page(accountId: string, after: string | undefined, limit: number): Promise<Suppression[]> {
      const { rows } = await pool.query<SuppressionRow>(
        `SELECT ${COLUMNS} FROM suppressions s
          WHERE s.account_id = $1 AND ${LIVE} AND ($2::uuid IS NULL OR s.id > $2::uuid)
          ORDER BY s.id LIMIT $3`,
        [accountId, after ?? null, limit],
      )
      return rows.map(suppression)
    },
  })
}

export type SuppressionRepository = ReturnType<typeof createSuppressionRepository>
