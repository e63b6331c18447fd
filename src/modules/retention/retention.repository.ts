import { type PoolClient, withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { uuidv7LowerBound } from '../../lib/uuid.js'

export type RetentionKind = 'bodies' | 'metadata'

const FIRST_ID = '00000000-0000-0000-0000-000000000000'
const PENDING = "('scheduled', 'queued', 'sending', 'deferred')"

/**
 * Retention's reads and writes. Each account has a cursor per kind in `retention_cursors`: the
 * emails before it are done. A batch takes the account's next emails older than the cutoff in id
 * (time) order through the (account, id) index, stops before the first one with a recipient not
 * yet ended (it never passes one), purges them and moves the cursor, in one transaction that
 * holds the cursor row (another process purging the same account skips it).
 */
export function createRetentionRepository({ pool }: RepositoryDeps) {
  async function batch(
    kind: RetentionKind,
    accountId: string,
    cutoff: Date,
    limit: number,
    purge: (client: PoolClient, ids: string[]) => Promise<void>,
  ): Promise<{ done: number; more: boolean } | undefined> {
    await pool.query(
      'INSERT INTO retention_cursors (account_id, kind, last_id) VALUES ($1, $2, $3) ON CONFLICT (account_id, kind) DO NOTHING',
      [accountId, kind, FIRST_ID],
    )
    return withTransaction(pool, async (client) => {
      const { rows: cursor } = await client.query<{ last_id: string }>(
        'SELECT last_id FROM retention_cursors WHERE account_id = $1 AND kind = $2 FOR UPDATE SKIP LOCKED',
        [accountId, kind],
      )
      const after = cursor[0]?.last_id
      if (after === undefined) return undefined
      const { rows } = await client.query<{ id: string; pending: boolean }>(
        `SELECT e.id, EXISTS (SELECT 1 FROM recipients r WHERE r.email_id = e.id AND r.status IN ${PENDING}) AS pending
           FROM emails e
          WHERE e.account_id = $1 AND e.id > $2 AND e.id < $3
          ORDER BY e.id LIMIT $4`,
        [accountId, after, uuidv7LowerBound(cutoff), limit],
      )
      const stop = rows.findIndex((r) => r.pending)
      const ids = (stop < 0 ? rows : rows.slice(0, stop)).map((r) => r.id)
      const last = ids[ids.length - 1]
      if (last === undefined) return { done: 0, more: false }
      await purge(client, ids)
      await client.query('UPDATE retention_cursors SET last_id = $3, updated_at = now() WHERE account_id = $1 AND kind = $2', [
        accountId,
        kind,
        last,
      ])
      return { done: ids.length, more: stop < 0 && rows.length === limit }
    })
  }

  return guardRepository({
    /**
     * Accounts with an email past their retention of this kind after their cursor: one index probe
     * per account, so a pass costs nothing for the accounts with nothing to purge.
     */
    async due(kind: RetentionKind, now: Date, defaultMs: number): Promise<Array<{ accountId: string; cutoff: Date }>> {
      const days = kind === 'bodies' ? 'a.body_retention_days' : 'a.metadata_retention_days'
      const { rows } = await pool.query<{ id: string; cutoff: Date }>(
        `SELECT a.id, x.cutoff
           FROM accounts a
           LEFT JOIN retention_cursors c ON c.account_id = a.id AND c.kind = $1
          CROSS JOIN LATERAL (SELECT $2::timestamptz - coalesce(${days} * interval '1 day', $3 * interval '1 millisecond') AS cutoff) x
          WHERE EXISTS (SELECT 1 FROM emails e WHERE e.account_id = a.id AND e.id > coalesce(c.last_id, $4::uuid)
                           AND e.id < (lpad(to_hex((extract(epoch FROM x.cutoff) * 1000)::bigint), 12, '0') || '00000000000000000000')::uuid)
          ORDER BY c.updated_at NULLS FIRST LIMIT 1000`,
        [kind, now, defaultMs, FIRST_ID],
      )
      return rows.map((r) => ({ accountId: r.id, cutoff: r.cutoff }))
    },

    /** Removes the text, HTML, raw bytes and attachments of the next ended emails older than `cutoff`. */
    purgeBodies: (accountId: string, cutoff: Date, limit: number) =>
      batch('bodies', accountId, cutoff, limit, async (client, ids) => {
        await client.query('DELETE FROM email_attachments WHERE email_id = ANY($1::uuid[])', [ids])
        await client.query(
          'UPDATE emails SET text = NULL, html = NULL, raw = NULL, body_purged_at = now() WHERE id = ANY($1::uuid[]) AND body_purged_at IS NULL',
          [ids],
        )
      }),

    /** Deletes the next ended emails older than `cutoff` with their recipients, deliveries, attempts and events. */
    purgeMetadata: (accountId: string, cutoff: Date, limit: number) =>
      batch('metadata', accountId, cutoff, limit, async (client, ids) => {
        // Events name their email without a foreign key (the feed reads them alone); the rest cascades.
        await client.query('DELETE FROM events WHERE email_id = ANY($1::uuid[])', [ids])
        await client.query('DELETE FROM emails WHERE id = ANY($1::uuid[])', [ids])
      }),
  })
}

export type RetentionRepository = ReturnType<typeof createRetentionRepository>
