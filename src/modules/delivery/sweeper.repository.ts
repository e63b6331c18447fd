import { type Pool, withTransaction } from '../../infra/db.js'
import { uuidv7, uuidv7LowerBound } from '../../lib/uuid.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import { insertEvents } from '../events/event.repository.js'
import { RUNNABLE } from './delivery.repository.js'
import type { DeliveryJob } from './dispatch.port.js'
import { jobSender } from './route.js'

// Any constant works as long as nothing else in the database uses it.
const SWEEPER_LOCK_ID = 0x48696b79

interface ExpiredRow {
  id: string
  email_id: string
  account_id: string
  address: string
  attempt_count: number
  /** Its pending reason before it expired. */
  last_reason: string | null
}

/** Pending reasons that say nothing more than "it was waiting its turn". */
const ORDINARY_WAITS = new Set(['scheduled', 'queued', 'waiting_retry', 'sending'])

/** The sweeper's statements (docs/architecture.md §3); each page is bounded and commits on its own. */
export function createSweeperRepository(pool: Pool) {
  return {
    /**
     * The sweeper's advisory lock, held on a connection of its own; undefined when another
     * process holds it. The returned function releases lock and connection.
     */
    async tryLock(): Promise<(() => Promise<void>) | undefined> {
      const client = await pool.connect()
      // The lock's connection stays out of the pool for the whole sweep, with no pool listener
      // for its errors: a server restart meanwhile must not be an unhandled 'error' event that
      // ends the worker. The unlock then fails, and the server has released the lock already.
      const ignore = () => {}
      client.on('error', ignore)
      const release = (err?: Error) => {
        client.removeListener('error', ignore)
        client.release(err)
      }
      try {
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [SWEEPER_LOCK_ID])
        if (!rows[0]?.locked) {
          release()
          return undefined
        }
      } catch (err) {
        release(err as Error)
        throw err
      }
      return async () => {
        try {
          await client.query('SELECT pg_advisory_unlock($1)', [SWEEPER_LOCK_ID])
          release()
        } catch (err) {
          // Dropping the connection releases a session lock too.
          release(err as Error)
        }
      }
    },

    /** Expires up to `limit` recipients that outlived MAX_DELIVERY_AGE (a sending one only once its lease lapsed). */
    async expireOverdue(limit: number): Promise<number> {
      return withTransaction(pool, async (client) => {
        const { rows } = await client.query<ExpiredRow>(
          `WITH due AS MATERIALIZED (
             SELECT r2.id, r2.reason FROM recipients r2 JOIN emails e2 ON e2.id = r2.email_id
              WHERE r2.status IN ('scheduled', 'queued', 'deferred', 'sending')
                AND r2.next_attempt_at <= now() AND e2.expires_at < now()
                AND (r2.status <> 'sending' OR r2.lease_until < now())
              ORDER BY r2.next_attempt_at LIMIT $1 FOR UPDATE OF r2 SKIP LOCKED
           )
           UPDATE recipients r SET status = 'expired', reason = NULL, next_attempt_at = NULL, lease_until = NULL, updated_at = now()
             FROM due
            WHERE r.id = due.id
           RETURNING r.id, r.email_id, r.account_id, r.address, r.attempt_count, due.reason AS last_reason`,
          [limit],
        )
        // An attempt cut off with its worker never finishes by itself.
        await client.query(
          `UPDATE delivery_attempts SET finished_at = now(), outcome = 'abandoned'
            WHERE recipient_id = ANY($1::uuid[]) AND finished_at IS NULL`,
          [rows.map((r) => r.id)],
        )
        await insertEvents(
          client,
          rows.map((r) => ({
            id: uuidv7(),
            accountId: r.account_id,
            emailId: r.email_id,
            recipientId: r.id,
            recipient: r.address,
            type: 'email.expired',
            // What it was waiting for when it ran out of time (a block, a warm-up cap, our relay), if
            // more than an ordinary retry: why the mail never went.
            data: {
              attempt: r.attempt_count,
              reason: 'max_delivery_age',
              ...(r.last_reason && !ORDINARY_WAITS.has(r.last_reason) ? { last_reason: r.last_reason } : {}),
            },
          })),
        )
        await refreshEmailStatuses(
          client,
          rows.map((r) => r.email_id),
        )
        return rows.length
      })
    },

    /** Moves up to `limit` due scheduled recipients to `queued`. */
    async promoteScheduled(limit: number): Promise<number> {
      return withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ email_id: string }>(
          `UPDATE recipients SET status = 'queued', reason = 'queued', updated_at = now()
            WHERE id IN (SELECT id FROM recipients WHERE status = 'scheduled' AND next_attempt_at <= now()
                          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING email_id`,
          [limit],
        )
        await refreshEmailStatuses(
          client,
          rows.map((r) => r.email_id),
        )
        return rows.length
      })
    },

    /**
     * Deliveries with a recipient due and no sign of a job: queued or deferred ones past their
     * time by `graceMs` (a job due now is probably about to run) that the claim would take (not
     * of a paused or cancelled campaign, nor of a paused stream: a job for them would only be
     * refused, sweep after sweep; they are picked up once resumed), and sending ones whose lease
     * lapsed (their worker died: no grace, so a takeover comes within a lease and a sweep).
     * Ordered by delivery id after `after`, `limit` at a time.
     */
    async dueDeliveries(graceMs: number, after: string, limit: number): Promise<Array<DeliveryJob & { deliveryId: string }>> {
      const { rows } = await pool.query<{
        delivery_id: string
        attempt: number
        route: string
        size: number
        account_id: string
        from_header: string
        stream: string
      }>(
        `SELECT r.delivery_id, max(r.attempt_count) + 1 AS attempt, min(d.route) AS route, max(e.size_bytes) AS size,
                min(e.account_id::text) AS account_id, min(e.from_header) AS from_header, min(e.stream) AS stream
           FROM recipients r JOIN deliveries d ON d.id = r.delivery_id JOIN emails e ON e.id = r.email_id
          WHERE r.next_attempt_at <= now()
            AND ((r.status IN ('queued', 'deferred') AND r.next_attempt_at <= now() - $1 * interval '1 millisecond' AND ${RUNNABLE})
              OR (r.status = 'sending' AND r.lease_until < now()))
            AND r.delivery_id > $2
          GROUP BY r.delivery_id ORDER BY r.delivery_id LIMIT $3`,
        [graceMs, after, limit],
      )
      return rows.map((r) => ({
        deliveryId: r.delivery_id,
        attempt: r.attempt,
        route: r.route,
        size: r.size,
        sender: jobSender(r.route, { accountId: r.account_id, fromHeader: r.from_header }),
        stream: r.stream,
      }))
    },

    async deleteExpiredIdempotencyRecords(): Promise<void> {
      await pool.query('DELETE FROM idempotency_records WHERE expires_at < now()')
    },

    /**
     * Deletes, at most `limit` rows of each per call, what LOG_RETENTION keeps: inbound reports,
     * webhook request logs, and webhook deliveries that are over (succeeded or given up).
     */
    async deleteOldLogs(retentionMs: number, limit: number): Promise<number> {
      const { rows } = await pool.query<{ n: string }>(
        `WITH r AS (
           DELETE FROM inbound_reports WHERE id IN (
             SELECT id FROM inbound_reports WHERE created_at < now() - $1 * interval '1 millisecond' LIMIT $2)
           RETURNING 1
         ), a AS (
           DELETE FROM webhook_attempts WHERE id IN (
             SELECT id FROM webhook_attempts WHERE id < $3::uuid ORDER BY id LIMIT $2)
           RETURNING 1
         ), d AS (
           DELETE FROM webhook_deliveries WHERE id IN (
             SELECT id FROM webhook_deliveries WHERE id < $3::uuid AND next_attempt_at IS NULL AND status IN ('succeeded', 'failed') LIMIT $2)
           RETURNING 1
         )
         SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM a) + (SELECT count(*) FROM d) AS n`,
        [retentionMs, limit, uuidv7LowerBound(new Date(Date.now() - retentionMs))],
      )
      return Number(rows[0]?.n ?? 0)
    },
  }
}

export type SweeperRepository = ReturnType<typeof createSweeperRepository>
