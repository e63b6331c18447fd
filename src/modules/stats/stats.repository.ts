import { withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import type { StatDimension, StatInterval } from './stats.types.js'

const FEED_START = { txid: '0', eventId: '00000000-0000-0000-0000-000000000000' }

/**
 * What each event counts as. An accepted recipient has one `email.queued` or `email.scheduled`
 * event (never both), so `accepted` counts each once; a bounce counts in `bounced` and in
 * `bounced_<its category>`.
 */
const METRICS_SQL = `CASE ev.type
           WHEN 'email.queued' THEN 'accepted' WHEN 'email.scheduled' THEN 'accepted'
           WHEN 'email.sent' THEN 'sent' WHEN 'email.delivered' THEN 'delivered'
           WHEN 'email.deferred' THEN 'deferred' WHEN 'email.bounced' THEN 'bounced'
           WHEN 'email.complained' THEN 'complained' WHEN 'email.unsubscribed' THEN 'unsubscribed'
           WHEN 'email.suppressed' THEN 'suppressed' WHEN 'email.failed' THEN 'failed'
           WHEN 'email.expired' THEN 'expired' WHEN 'email.cancelled' THEN 'cancelled' END`

/**
 * One batch of an account's feed after its cursor, counted: the events below the horizon (see
 * listFeed: nothing can appear behind it any more) are read in (txid, id) order, each counted in
 * its hour under every dimension it has, added to the rollup, and the cursor moved past them —
 * all in the statement that holds the cursor row, so a batch is counted once or not at all.
 */
const ROLLUP_SQL = `
WITH batch AS MATERIALIZED (
  SELECT ev.id, ev.txid, ev.type, ev.created_at, ev.recipient, ev.data, ev.email_id
    FROM events ev
   WHERE ev.account_id = $1 AND ev.txid < pg_snapshot_xmin(pg_current_snapshot())
     AND (ev.txid, ev.id) > ($2::xid8, $3::uuid)
   ORDER BY ev.txid, ev.id LIMIT $4
), counted AS (
  SELECT date_trunc('hour', ev.created_at, 'UTC') AS hour, m.metric, ev.recipient, e.stream, e.campaign_id, e.tags
    FROM batch ev JOIN emails e ON e.id = ev.email_id
   CROSS JOIN LATERAL (VALUES (${METRICS_SQL}),
     (CASE WHEN ev.type = 'email.bounced' THEN 'bounced_' || coalesce(ev.data->>'bounce_category', 'unknown') END)) AS m(metric)
   WHERE m.metric IS NOT NULL
), dims AS (
  SELECT c.hour, c.metric, d.dimension, d.value
    FROM counted c CROSS JOIN LATERAL (
      SELECT '' AS dimension, '' AS value
      UNION ALL SELECT 'domain', lower(split_part(c.recipient, '@', 2)) WHERE c.recipient LIKE '%@%'
      UNION ALL SELECT 'stream', c.stream
      UNION ALL SELECT 'campaign', c.campaign_id::text WHERE c.campaign_id IS NOT NULL
      UNION ALL SELECT 'tag', t.key || '=' || t.value FROM jsonb_each_text(c.tags) t
    ) d
), added AS (
  INSERT INTO stat_counts AS s (account_id, dimension, value, hour, metric, n)
  SELECT $1, dimension, value, hour, metric, count(*) FROM dims GROUP BY dimension, value, hour, metric
  ON CONFLICT (account_id, dimension, hour, value, metric) DO UPDATE SET n = s.n + EXCLUDED.n
  RETURNING 1
), last AS (
  SELECT txid, id FROM batch ORDER BY txid DESC, id DESC LIMIT 1
), moved AS (
  UPDATE stat_cursors c SET txid = last.txid::text, event_id = last.id, updated_at = now()
    FROM last WHERE c.account_id = $1
  RETURNING 1
)
SELECT (SELECT count(*) FROM batch)::int AS events, (SELECT count(*) FROM added)::int AS rows`

export interface StatRow {
  bucket: Date
  value: string
  metric: string
  n: number
}

export function createStatsRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    /**
     * Gives every account without a cursor one at the start of its feed, so its history is
     * counted too; returns how many cursors are ahead of the database's transaction counter (a
     * restore from a dump starts it lower: nothing new would ever be counted for them).
     */
    async ensureCursors(): Promise<{ ahead: number }> {
      await pool.query(
        `INSERT INTO stat_cursors (account_id, txid, event_id)
         SELECT a.id, $1, $2::uuid FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM stat_cursors c WHERE c.account_id = a.id)
         ON CONFLICT (account_id) DO NOTHING`,
        [FEED_START.txid, FEED_START.eventId],
      )
      const { rows } = await pool.query<{ ahead: number }>(
        'SELECT count(*)::int AS ahead FROM stat_cursors WHERE txid::xid8 >= pg_snapshot_xmax(pg_current_snapshot())',
      )
      return { ahead: rows[0]?.ahead ?? 0 }
    },

    /** Accounts with events not yet counted (below the horizon, after their cursor), least recently counted first. */
    async pendingAccounts(limit: number): Promise<string[]> {
      const { rows } = await pool.query<{ account_id: string }>(
        `SELECT c.account_id FROM stat_cursors c
          WHERE EXISTS (SELECT 1 FROM events ev WHERE ev.account_id = c.account_id
                          AND ev.txid < pg_snapshot_xmin(pg_current_snapshot()) AND (ev.txid, ev.id) > (c.txid::xid8, c.event_id))
          ORDER BY c.updated_at LIMIT $1`,
        [limit],
      )
      return rows.map((r) => r.account_id)
    },

    /**
     * Counts the next `limit` events of the account's feed. Returns how many were counted, or
     * undefined when another process holds the account's cursor (it is counting them).
     */
    async rollUp(accountId: string, limit: number): Promise<number | undefined> {
      return withTransaction(pool, async (client) => {
        const { rows: cursor } = await client.query<{ txid: string; event_id: string }>(
          'SELECT txid, event_id FROM stat_cursors WHERE account_id = $1 FOR UPDATE SKIP LOCKED',
          [accountId],
        )
        const at = cursor[0]
        if (!at) return undefined
        const { rows } = await client.query<{ events: number }>(ROLLUP_SQL, [accountId, at.txid, at.event_id, limit])
        return rows[0]?.events ?? 0
      })
    },

    /** Puts an account whose rollup failed behind the others, so one bad account never stalls the rest. */
    async setAside(accountId: string): Promise<void> {
      await pool.query('UPDATE stat_cursors SET updated_at = now() WHERE account_id = $1', [accountId])
    },

    /**
     * Summed counts of an account in [from, to) per interval, for one dimension ('' for totals),
     * optionally for some of its values only.
     */
    async counts(
      accountId: string,
      dimension: StatDimension | '',
      interval: StatInterval,
      from: Date,
      to: Date,
      values?: string[],
    ): Promise<StatRow[]> {
      const { rows } = await pool.query<{ bucket: Date; value: string; metric: string; n: string }>(
        `SELECT date_trunc($3, hour, 'UTC') AS bucket, value, metric, sum(n)::text AS n
           FROM stat_counts
          WHERE account_id = $1 AND dimension = $2 AND hour >= $4 AND hour < $5 AND ($6::text[] IS NULL OR value = ANY($6::text[]))
          GROUP BY 1, 2, 3 ORDER BY 1`,
        [accountId, dimension, interval, from, to, values ?? null],
      )
      return rows.map((r) => ({ bucket: r.bucket, value: r.value, metric: r.metric, n: Number(r.n) }))
    },

    /** The values of a dimension with the most events of `metric` in [from, to), most first. */
    async topValues(accountId: string, dimension: StatDimension, from: Date, to: Date, limit: number): Promise<string[]> {
      const { rows } = await pool.query<{ value: string }>(
        `SELECT value FROM stat_counts
          WHERE account_id = $1 AND dimension = $2 AND hour >= $3 AND hour < $4
          GROUP BY value ORDER BY sum(n) FILTER (WHERE metric = 'accepted') DESC NULLS LAST, sum(n) DESC, value LIMIT $5`,
        [accountId, dimension, from, to, limit],
      )
      return rows.map((r) => r.value)
    },

    /** When the account's events were last counted up to (the created_at of the last one counted). */
    async countedUpTo(accountId: string): Promise<Date | null> {
      const { rows } = await pool.query<{ at: Date | null }>(
        `SELECT (SELECT ev.created_at FROM events ev WHERE ev.id = c.event_id) AS at FROM stat_cursors c WHERE c.account_id = $1`,
        [accountId],
      )
      return rows[0]?.at ?? null
    },
  })
}

export type StatsRepository = ReturnType<typeof createStatsRepository>
