import { withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { SQL_UUIDV7 } from '../delivery/delivery.repository.js'
import type { ClaimedWebhook, FanoutEndpoint, FanoutEvent, WebhookAttemptView, WebhookResult } from './webhook.types.js'

/** A new delivery of one event to one endpoint, due now. */
export interface NewWebhookDelivery {
  endpointId: string
  eventId: string
}

interface FanoutEventRow {
  id: string
  txid: string
  type: string
  created_at: Date
  stream: string
  from_header: string
  tags: Record<string, string>
}

/**
 * Claims due deliveries of enabled endpoints (skipping rows another sender holds) and returns
 * each with its event and endpoint. While sending, `next_attempt_at` is the lease end: a sender
 * that dies leaves rows that are due again once it passes (at least once; the receiver
 * recognises a repeat by its webhook-id).
 */
const CLAIM_SQL = `
WITH due AS (
  SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints ep ON ep.id = d.endpoint_id AND ep.enabled
   WHERE d.next_attempt_at <= now() AND d.status IN ('pending', 'sending')
   ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
   SET status = 'sending', attempts = d.attempts + 1, next_attempt_at = now() + $2 * interval '1 millisecond', updated_at = now()
  FROM due, webhook_endpoints ep, events ev, emails e
 WHERE d.id = due.id AND ep.id = d.endpoint_id AND ev.id = d.event_id AND e.id = ev.email_id
RETURNING d.id, d.endpoint_id, d.account_id, d.attempts, ep.url, ep.secret,
          CASE WHEN ep.previous_secret_expires_at > now() THEN ep.previous_secret END AS previous_secret,
          ev.id AS event_id, ev.type, ev.created_at, ev.email_id, ev.recipient, ev.data, e.tags`

interface ClaimRow {
  id: string
  endpoint_id: string
  account_id: string
  attempts: number
  url: string
  secret: string
  previous_secret: string | null
  event_id: string
  type: string
  created_at: Date
  email_id: string
  recipient: string | null
  data: Record<string, unknown>
  tags: Record<string, string>
}

/**
 * Records a batch of POST outcomes in one statement: each delivery (fenced by its attempt
 * number, so a late answer from a lapsed lease changes nothing), one attempt row each, and the
 * endpoints' health (`failing_since` set at the first failure after a success, cleared by a
 * success), touching an endpoint row only when that changes.
 */
const RECORD_SQL = `
WITH x AS MATERIALIZED (
  SELECT * FROM json_to_recordset($1::json) AS x(id uuid, endpoint_id uuid, event_id uuid, attempt int, ok boolean,
    status_code int, error text, response_body text, duration_ms int, next_attempt_at timestamptz)
), upd AS (
  UPDATE webhook_deliveries d
     SET status = (CASE WHEN x.ok THEN 'succeeded' WHEN x.next_attempt_at IS NULL THEN 'failed' ELSE 'pending' END)::"WebhookDeliveryStatus",
         -- An endpoint disabled while this was in flight: parked with the endpoint's other deliveries.
         next_attempt_at = CASE WHEN x.ok OR NOT ep.enabled THEN NULL ELSE x.next_attempt_at END,
         last_status = x.status_code, last_error = x.error, updated_at = now()
    FROM x JOIN webhook_endpoints ep ON ep.id = x.endpoint_id
   WHERE d.id = x.id AND d.status = 'sending' AND d.attempts = x.attempt
  RETURNING d.id
), att AS (
  INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, event_id, number, started_at, duration_ms, status_code, error, response_body)
  SELECT ${SQL_UUIDV7}, x.id, x.endpoint_id, x.event_id, x.attempt, now() - x.duration_ms * interval '1 millisecond', x.duration_ms,
         x.status_code, x.error, x.response_body
    FROM x
  RETURNING 1
), health AS (
  UPDATE webhook_endpoints ep SET failing_since = CASE WHEN s.any_ok THEN NULL ELSE now() END, updated_at = now()
    FROM (SELECT endpoint_id, bool_or(ok) AS any_ok FROM x GROUP BY endpoint_id) s
   WHERE ep.id = s.endpoint_id AND ((s.any_ok AND ep.failing_since IS NOT NULL) OR (NOT s.any_ok AND ep.failing_since IS NULL))
  RETURNING 1
)
SELECT id FROM upd`

export function createWebhookRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    /**
     * Accounts whose feed some enabled endpoint reads. One whose cursor is missing (deleted after
     * a restore, see docs/architecture.md §8) starts at the current horizon; when none is missing
     * this writes nothing and takes no transaction id.
     */
    async fanoutAccounts(): Promise<string[]> {
      const { rows } = await pool.query<{ account_id: string }>(
        `WITH missing AS (
           INSERT INTO webhook_cursors (account_id, txid, event_id)
           SELECT DISTINCT ep.account_id, pg_snapshot_xmin(pg_current_snapshot())::text, '00000000-0000-0000-0000-000000000000'::uuid
             FROM webhook_endpoints ep
            WHERE ep.enabled AND NOT EXISTS (SELECT 1 FROM webhook_cursors c WHERE c.account_id = ep.account_id)
           ON CONFLICT (account_id) DO NOTHING
           RETURNING 1
         )
         SELECT DISTINCT account_id FROM webhook_endpoints WHERE enabled`,
      )
      return rows.map((r) => r.account_id)
    },

    /**
     * Hands out the next events of an account's feed to its endpoints, in one transaction: the
     * cursor row is locked (another process fanning out the same account skips it), the events
     * after it below the horizon are read (see listFeed), `pick` says which endpoint gets which,
     * the deliveries are inserted (once per endpoint and event) and the cursor moves on.
     * Returns how many events were read, or undefined when another process holds the account.
     */
    async fanOut(
      accountId: string,
      limit: number,
      pick: (endpoints: FanoutEndpoint[], events: FanoutEvent[]) => NewWebhookDelivery[],
    ): Promise<{ events: number; deliveries: number } | undefined> {
      // A read-only look first: an idle account costs no lock, no transaction id and no WAL.
      const { rows: waiting } = await pool.query<{ any: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM webhook_cursors c JOIN events ev ON ev.account_id = c.account_id
                          AND ev.txid < pg_snapshot_xmin(pg_current_snapshot()) AND (ev.txid, ev.id) > (c.txid::xid8, c.event_id)
                         WHERE c.account_id = $1) AS any`,
        [accountId],
      )
      if (!waiting[0]?.any) return { events: 0, deliveries: 0 }
      return withTransaction(pool, async (client) => {
        const { rows: cursor } = await client.query<{ txid: string; event_id: string }>(
          'SELECT txid, event_id FROM webhook_cursors WHERE account_id = $1 FOR UPDATE SKIP LOCKED',
          [accountId],
        )
        const at = cursor[0]
        if (!at) return undefined
        const { rows: events } = await client.query<FanoutEventRow>(
          `SELECT ev.id, ev.txid::text AS txid, ev.type, ev.created_at, e.stream::text AS stream, e.from_header, e.tags
             FROM events ev JOIN emails e ON e.id = ev.email_id
            WHERE ev.account_id = $1 AND ev.txid < pg_snapshot_xmin(pg_current_snapshot())
              AND (ev.txid, ev.id) > ($2::xid8, $3::uuid)
            ORDER BY ev.txid, ev.id LIMIT $4`,
          [accountId, at.txid, at.event_id, limit],
        )
        const last = events[events.length - 1]
        if (!last) return { events: 0, deliveries: 0 }
        const { rows: endpoints } = await client.query<{
          id: string
          created_at: Date
          event_types: string[]
          streams: string[]
          domains: string[]
          tags: Record<string, string>
        }>('SELECT id, created_at, event_types, streams, domains, tags FROM webhook_endpoints WHERE account_id = $1 AND enabled', [
          accountId,
        ])
        const deliveries = pick(
          endpoints.map((ep) => ({
            id: ep.id,
            createdAt: ep.created_at,
            eventTypes: ep.event_types,
            streams: ep.streams,
            domains: ep.domains,
            tags: ep.tags,
          })),
          events.map((ev) => ({
            id: ev.id,
            txid: ev.txid,
            type: ev.type,
            createdAt: ev.created_at,
            stream: ev.stream,
            fromHeader: ev.from_header,
            tags: ev.tags,
          })),
        )
        if (deliveries.length > 0) {
          await client.query(
            `INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, next_attempt_at)
             SELECT ${SQL_UUIDV7}, x.endpoint_id, $2, x.event_id, now()
               FROM unnest($1::uuid[], $3::uuid[]) AS x(endpoint_id, event_id)
             ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
            [deliveries.map((d) => d.endpointId), accountId, deliveries.map((d) => d.eventId)],
          )
        }
        await client.query('UPDATE webhook_cursors SET txid = $2, event_id = $3, updated_at = now() WHERE account_id = $1', [
          accountId,
          last.txid,
          last.id,
        ])
        return { events: events.length, deliveries: deliveries.length }
      })
    },

    async claim(limit: number, leaseMs: number): Promise<ClaimedWebhook[]> {
      const { rows } = await pool.query<ClaimRow>(CLAIM_SQL, [limit, leaseMs])
      return rows.map((r) => ({
        id: r.id,
        endpointId: r.endpoint_id,
        accountId: r.account_id,
        attempt: r.attempts,
        url: r.url,
        secret: r.secret,
        previousSecret: r.previous_secret,
        event: {
          id: r.event_id,
          type: r.type,
          created_at: r.created_at,
          email_id: r.email_id,
          recipient: r.recipient,
          tags: r.tags,
          data: r.data,
        },
      }))
    },

    /** Stores a batch of outcomes; returns the deliveries it updated. */
    async record(results: WebhookResult[]): Promise<Set<string>> {
      const { rows } = await pool.query<{ id: string }>(RECORD_SQL, [
        JSON.stringify(
          results.map((r) => ({
            id: r.id,
            endpoint_id: r.endpointId,
            event_id: r.eventId,
            attempt: r.attempt,
            ok: r.ok,
            status_code: r.statusCode,
            error: r.error,
            response_body: r.responseBody,
            duration_ms: r.durationMs,
            next_attempt_at: r.nextAttemptAt?.toISOString() ?? null,
          })),
        ),
      ])
      return new Set(rows.map((r) => r.id))
    },

    /**
     * The deliveries not over yet (pending or sending) and those due now, each counted up to `cap`,
     * and how long the longest-waiting due one has waited (by the database's clock): the metrics'
     * backlog. All read from the due index, so a scrape stays cheap however deep the backlog is.
     */
    async backlog(cap: number): Promise<{ pending: number; due: number; oldestDueSeconds: number }> {
      const { rows } = await pool.query<{ pending: number; due: number; oldest_s: number | null }>(
        `SELECT (SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries WHERE next_attempt_at IS NOT NULL LIMIT $1) p) AS pending,
                (SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries WHERE next_attempt_at <= now() LIMIT $1) d) AS due,
                (SELECT extract(epoch FROM now() - min(next_attempt_at))::float8 FROM webhook_deliveries
                  WHERE next_attempt_at <= now()) AS oldest_s`,
        [cap],
      )
      const row = rows[0]
      return { pending: row?.pending ?? 0, due: row?.due ?? 0, oldestDueSeconds: row?.oldest_s ?? 0 }
    },

    /** An endpoint's request log, newest first. */
    async attempts(endpointId: string, limit: number, before: string | undefined): Promise<WebhookAttemptView[]> {
      const { rows } = await pool.query<{
        id: string
        delivery_id: string
        event_id: string
        number: number
        started_at: Date
        duration_ms: number
        status_code: number | null
        error: string | null
        response_body: string | null
      }>(
        `SELECT id, delivery_id, event_id, number, started_at, duration_ms, status_code, error, response_body
           FROM webhook_attempts WHERE endpoint_id = $1 AND ($2::uuid IS NULL OR id < $2::uuid) ORDER BY id DESC LIMIT $3`,
        [endpointId, before ?? null, limit],
      )
      return rows.map((r) => ({
        id: r.id,
        deliveryId: r.delivery_id,
        eventId: r.event_id,
        number: r.number,
        startedAt: r.started_at,
        durationMs: r.duration_ms,
        statusCode: r.status_code,
        error: r.error,
        responseBody: r.response_body,
      }))
    },

    /**
     * Sends events of the account again to one endpoint: one event, or those created in a time
     * range given as UUIDv7 bounds (ids are time-ordered, so the range is an index range; at most
     * `limit`), whether they were delivered before or not. A delivery in flight is
     * left alone. Returns how many were queued.
     */
    async replay(
      accountId: string,
      endpointId: string,
      sel: { eventId?: string; fromId?: string; toId?: string },
      limit: number,
    ): Promise<number> {
      const { rowCount } = await pool.query(
        `INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_id, next_attempt_at)
         SELECT ${SQL_UUIDV7}, $2, $1, ev.id, CASE WHEN ep.enabled THEN now() END
           FROM events ev JOIN webhook_endpoints ep ON ep.id = $2
          WHERE ev.account_id = $1
            AND ($3::uuid IS NULL OR ev.id = $3::uuid)
            AND ($4::uuid IS NULL OR ev.id >= $4::uuid) AND ($5::uuid IS NULL OR ev.id < $5::uuid)
          ORDER BY ev.id LIMIT $6
         ON CONFLICT (endpoint_id, event_id) DO UPDATE
           -- A fresh schedule: a replay of a delivery that was given up gets every retry again.
           SET status = 'pending', attempts = 0, next_attempt_at = EXCLUDED.next_attempt_at, updated_at = now()
         WHERE webhook_deliveries.status <> 'sending'`,
        [accountId, endpointId, sel.eventId ?? null, sel.fromId ?? null, sel.toId ?? null, limit],
      )
      return rowCount ?? 0
    },
  })
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>
