import type { Pool, PoolClient } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import type { NewEvent } from './event.types.js'

type Queryable = Pick<PoolClient, 'query'>

/** The INSERT of events read from a JSON parameter (`eventsJson`), for statements that fold it in. */
export const insertEventsSql = (param: string) => `INSERT INTO events (id, account_id, email_id, recipient_id, recipient, type, data)
     SELECT id, account_id, email_id, recipient_id, recipient, type, data
       FROM json_to_recordset(${param}::json) AS x(id uuid, account_id uuid, email_id uuid, recipient_id uuid, recipient text, type text, data jsonb)`
export const eventsJson = (events: NewEvent[]) => JSON.stringify(events.map(eventRow))

/** Appends events in one statement; callers pass their transaction so events commit with the outcome. */
export async function insertEvents(db: Queryable, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return
  await db.query(insertEventsSql('$1'), [eventsJson(events)])
}

/** An event as a row for the JSON record sets the batched inserts use. */
export const eventRow = (e: NewEvent) => ({
  id: e.id,
  account_id: e.accountId,
  email_id: e.emailId,
  recipient_id: e.recipientId,
  recipient: e.recipient,
  type: e.type,
  data: e.data,
})

export interface EventRow {
  id: string
  type: string
  created_at: Date
  email_id: string
  recipient: string | null
  data: Record<string, unknown>
  tags: Record<string, string>
}

/** Events of one email of the account (none when the account has no such email), oldest first, after a cursor. */
export async function listEmailEvents(
  pool: Pool,
  accountId: string,
  emailId: string,
  after: string | undefined,
  limit: number,
): Promise<EventRow[]> {
  const { rows } = await pool.query<EventRow>(
    `SELECT ev.id, ev.type, ev.created_at, ev.email_id, ev.recipient, ev.data, e.tags
       FROM events ev JOIN emails e ON e.id = ev.email_id AND e.account_id = ev.account_id
      WHERE ev.email_id = $1 AND ev.account_id = $2 AND ($3::uuid IS NULL OR ev.id > $3::uuid)
      ORDER BY ev.id LIMIT $4`,
    [emailId, accountId, after ?? null, limit],
  )
  return rows
}

/** A position in an account's feed: the writing transaction and the event id, as text. */
export interface FeedPosition {
  txid: string
  id: string
}

export interface FeedRow extends EventRow {
  txid: string
}

/** How many events a filtered poll looks through at most, whatever it finds. */
const FILTERED_SCAN = 5_000

const FEED_WHERE = `ev.account_id = $1
        AND ev.txid < pg_snapshot_xmin(pg_current_snapshot())
        AND ($2::xid8 IS NULL OR (ev.txid, ev.id) > ($2::xid8, $3::uuid))`

/**
 * One page of the account's feed after `after` (from the start without one), in (txid, id)
 * order. Only events written by transactions older than every transaction still running are
 * read: an event id or txid is taken before its transaction commits, so a reader that went past
 * a running transaction would skip its events when it commits later. Below that horizon nothing
 * can appear any more, so a poller resuming from its cursor sees every event exactly once.
 *
 * With `types`, at most FILTERED_SCAN events are looked through, and `scanned` says how far:
 * a poll for a rare type then moves its cursor over the others instead of reading the same
 * history again at every poll.
 */
export async function listFeed(
  pool: Pool,
  accountId: string,
  after: FeedPosition | undefined,
  types: readonly string[] | undefined,
  limit: number,
): Promise<{ rows: FeedRow[]; scanned?: FeedPosition }> {
  const cursor = [accountId, after?.txid ?? null, after?.id ?? null]
  if (!types || types.length === 0) {
    const { rows } = await pool.query<FeedRow>(
      `SELECT ev.id, ev.type, ev.created_at, ev.email_id, ev.recipient, ev.data, e.tags, ev.txid::text AS txid
         FROM events ev JOIN emails e ON e.id = ev.email_id
        WHERE ${FEED_WHERE}
        ORDER BY ev.txid, ev.id LIMIT $4`,
      [...cursor, limit],
    )
    return { rows }
  }
  const { rows } = await pool.query<FeedRow & { last_txid: string | null; last_id: string | null }>(
    `WITH scan AS MATERIALIZED (
       SELECT ev.id, ev.txid, ev.type FROM events ev WHERE ${FEED_WHERE} ORDER BY ev.txid, ev.id LIMIT $4
     ), last AS (SELECT txid, id FROM scan ORDER BY txid DESC, id DESC LIMIT 1)
     SELECT ev.id, ev.type, ev.created_at, ev.email_id, ev.recipient, ev.data, e.tags, ev.txid::text AS txid,
            (SELECT txid::text FROM last) AS last_txid, (SELECT id FROM last) AS last_id
       FROM (SELECT id, txid FROM scan WHERE type = ANY($5::text[]) ORDER BY txid, id LIMIT $6) s
       JOIN events ev ON ev.id = s.id JOIN emails e ON e.id = ev.email_id
      ORDER BY s.txid, s.id`,
    [...cursor, FILTERED_SCAN, types, limit],
  )
  if (rows.length > 0) return { rows, scanned: rows.length < limit ? scannedOf(rows[0]) : undefined }
  // Nothing matched: one more look, for how far the scan went.
  const { rows: last } = await pool.query<{ txid: string; id: string }>(
    `SELECT txid::text AS txid, id FROM (SELECT ev.txid, ev.id FROM events ev WHERE ${FEED_WHERE} ORDER BY ev.txid, ev.id LIMIT $4) s
      ORDER BY txid DESC, id DESC LIMIT 1`,
    [...cursor, FILTERED_SCAN],
  )
  return { rows: [], scanned: last[0] ? { txid: last[0].txid, id: last[0].id } : undefined }
}

const scannedOf = (row: { last_txid: string | null; last_id: string | null } | undefined): FeedPosition | undefined =>
  row?.last_txid && row.last_id ? { txid: row.last_txid, id: row.last_id } : undefined

export function createEventRepository(deps: RepositoryDeps) {
  return guardRepository({
    feed: (accountId: string, after: FeedPosition | undefined, types: readonly string[] | undefined, limit: number) =>
      listFeed(deps.pool, accountId, after, types, limit),
  })
}

export type EventRepository = ReturnType<typeof createEventRepository>
