import { type Pool, withTransaction } from '../../infra/db.js'
import type { Logger } from '../../infra/logger.js'
import { uuidv7 } from '../../lib/uuid.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import { insertEvents } from '../events/event.repository.js'
import type { Dispatcher } from './dispatch.port.js'

// Any constant works as long as nothing else in the database uses it.
const SWEEPER_LOCK_ID = 0x48696b79

const PAGE = 1000

export interface SweepStats {
  ran: boolean
  expired: number
  promoted: number
  redispatched: number
}

/**
 * The sweeper makes Redis rebuildable (C2) and keeps C3: it promotes due scheduled recipients,
 * re-dispatches every due recipient whose job may be missing (re-adding an existing job id is a
 * no-op, so this is always safe), and expires what outlived MAX_DELIVERY_AGE. One process at a
 * time runs it, under a Postgres advisory lock.
 */
export function createSweeper(deps: { pool: Pool; dispatcher: Dispatcher; logger: Logger; graceMs: number; maxPages?: number }) {
  const { pool, dispatcher, logger } = deps
  const maxPages = deps.maxPages ?? 20

  async function expireOverdue(): Promise<number> {
    let total = 0
    for (let page = 0; page < maxPages; page++) {
      const expired = await withTransaction(pool, async (client) => {
        const { rows } = await client.query(
          `UPDATE recipients r SET status = 'expired', reason = NULL, next_attempt_at = NULL, lease_until = NULL, updated_at = now()
             FROM emails e
            WHERE r.id IN (SELECT r2.id FROM recipients r2 JOIN emails e2 ON e2.id = r2.email_id
                            WHERE r2.status IN ('scheduled', 'queued', 'deferred', 'sending')
                              AND r2.next_attempt_at <= now() AND e2.expires_at < now()
                            ORDER BY r2.next_attempt_at LIMIT $1 FOR UPDATE OF r2 SKIP LOCKED)
              AND e.id = r.email_id
           RETURNING r.id, r.email_id, r.account_id, r.address, r.attempt_count`,
          [PAGE],
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
            data: { attempt: r.attempt_count, reason: 'max_delivery_age' },
          })),
        )
        await refreshEmailStatuses(
          client,
          rows.map((r) => r.email_id),
        )
        return rows.length
      })
      total += expired
      if (expired < PAGE) break
    }
    return total
  }

  async function promoteScheduled(): Promise<number> {
    return withTransaction(pool, async (client) => {
      const { rows } = await client.query(
        `UPDATE recipients SET status = 'queued', reason = 'queued', updated_at = now()
          WHERE status = 'scheduled' AND next_attempt_at <= now()
          RETURNING email_id`,
      )
      await refreshEmailStatuses(
        client,
        rows.map((r) => r.email_id),
      )
      return rows.length
    })
  }

  async function redispatch(): Promise<number> {
    let total = 0
    let after = '00000000-0000-0000-0000-000000000000'
    for (let page = 0; page < maxPages; page++) {
      const { rows } = await pool.query<{ delivery_id: string; attempt: number; route: string }>(
        `SELECT r.delivery_id, max(r.attempt_count) + 1 AS attempt, min(d.route) AS route
           FROM recipients r JOIN deliveries d ON d.id = r.delivery_id
          WHERE r.status IN ('queued', 'deferred', 'sending') AND r.next_attempt_at <= now() - $1 * interval '1 millisecond'
            AND r.delivery_id > $2
          GROUP BY r.delivery_id ORDER BY r.delivery_id LIMIT $3`,
        [deps.graceMs, after, PAGE],
      )
      if (rows.length === 0) break
      await dispatcher.dispatch(rows.map((r) => ({ deliveryId: r.delivery_id, attempt: r.attempt, route: r.route })))
      total += rows.length
      after = (rows[rows.length - 1] as { delivery_id: string }).delivery_id
      if (rows.length < PAGE) break
    }
    return total
  }

  return {
    async sweep(): Promise<SweepStats> {
      const client = await pool.connect()
      try {
        const { rows } = await client.query('SELECT pg_try_advisory_lock($1) AS locked', [SWEEPER_LOCK_ID])
        if (!rows[0]?.locked) return { ran: false, expired: 0, promoted: 0, redispatched: 0 }
        try {
          const expired = await expireOverdue()
          const promoted = await promoteScheduled()
          const redispatched = await redispatch()
          await pool.query('DELETE FROM idempotency_records WHERE expires_at < now()')
          if (expired + redispatched > 0) logger.info({ expired, promoted, redispatched }, 'sweep')
          return { ran: true, expired, promoted, redispatched }
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [SWEEPER_LOCK_ID])
        }
      } finally {
        client.release()
      }
    },
  }
}

export type Sweeper = ReturnType<typeof createSweeper>
