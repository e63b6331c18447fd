import { withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { uuidv7, uuidv7LowerBound } from '../../lib/uuid.js'
import { insertEvents } from '../events/event.repository.js'

export interface StreamPause {
  stream: string
  reason: string
  pausedAt: Date
}

export function createStreamRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    /**
     * Complaints and successful deliveries of an account's stream since `since`, from its events
     * (read when a complaint arrives, not per message).
     */
    async feedbackSince(accountId: string, stream: string, since: Date): Promise<{ complaints: number; delivered: number }> {
      const { rows } = await pool.query<{ complaints: number; delivered: number }>(
        // Only what came after the last resume counts: the complaints that paused the stream must
        // not pause it again the moment it is resumed.
        `SELECT count(*) FILTER (WHERE ev.type = 'email.complained')::int AS complaints,
                count(*) FILTER (WHERE ev.type IN ('email.sent', 'email.delivered'))::int AS delivered
           FROM events ev JOIN emails e ON e.id = ev.email_id
          WHERE ev.account_id = $1 AND e.stream = $2 AND ev.id >= $3::uuid
            AND ev.created_at >= coalesce((SELECT p.resumed_at FROM stream_pauses p WHERE p.account_id = $1 AND p.stream = $2), '-infinity')
            AND ev.type IN ('email.complained', 'email.sent', 'email.delivered')`,
        [accountId, stream, uuidv7LowerBound(since)],
      )
      return rows[0] ?? { complaints: 0, delivered: 0 }
    },

    /**
     * Pauses an account's stream with a reason and a `stream.paused` event (on the email whose
     * complaint tipped it); false when it was paused already.
     */
    async pause(accountId: string, stream: string, reason: string, emailId: string, data: Record<string, unknown>): Promise<boolean> {
      return withTransaction(pool, async (client) => {
        const { rowCount } = await client.query(
          `INSERT INTO stream_pauses AS p (account_id, stream, reason) VALUES ($1, $2, $3)
           ON CONFLICT (account_id, stream) DO UPDATE SET reason = EXCLUDED.reason, paused_at = now(), resumed_at = NULL
           WHERE p.resumed_at IS NOT NULL`,
          [accountId, stream, reason],
        )
        if (!rowCount) return false
        await insertEvents(client, [
          {
            id: uuidv7(),
            accountId,
            emailId,
            recipientId: null,
            recipient: null,
            type: 'stream.paused',
            data: { stream, reason, ...data },
          },
        ])
        return true
      })
    },

    /** Lifts a pause; false when the stream was not paused. */
    async resume(accountId: string, stream: string): Promise<boolean> {
      const { rowCount } = await pool.query(
        'UPDATE stream_pauses SET resumed_at = now() WHERE account_id = $1 AND stream = $2 AND resumed_at IS NULL',
        [accountId, stream],
      )
      return (rowCount ?? 0) > 0
    },

    async pauses(accountId: string): Promise<StreamPause[]> {
      const { rows } = await pool.query<{ stream: string; reason: string; paused_at: Date }>(
        'SELECT stream, reason, paused_at FROM stream_pauses WHERE account_id = $1 AND resumed_at IS NULL',
        [accountId],
      )
      return rows.map((r) => ({ stream: r.stream, reason: r.reason, pausedAt: r.paused_at }))
    },
  })
}

export type StreamRepository = ReturnType<typeof createStreamRepository>
