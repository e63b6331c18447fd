import { type Pool, withTransaction } from '../../infra/db.js'
import { uuidv7 } from '../../lib/uuid.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import { insertSuppressions } from '../suppressions/suppression.repository.js'
import type { RecordedOutcome } from './delivery.types.js'

type Queryable = Pick<Pool, 'query'>

const ROWSET = `x AS MATERIALIZED (
  SELECT * FROM json_to_recordset($1::json) AS x(attempt_id uuid, recipient_id uuid, attempt int, status "RecipientStatus",
    reason text, next_attempt_at timestamptz, phase text, smtp_code int, enhanced_code text, reply text, remote_host text,
    remote_ip text, tls_version text, tls_cipher text, duration_ms int, possible_duplicate boolean, event_id uuid,
    account_id uuid, email_id uuid, address text, event_type text, event_data jsonb, email_status "EmailStatus", bounce_category text)
)`

// An attempt row is filled in once, when its attempt ends.
const ATTEMPT_RESULT = `finished_at = now(), outcome = x.status::text, phase = x.phase, smtp_code = x.smtp_code,
  enhanced_code = x.enhanced_code, reply = x.reply, remote_host = x.remote_host, remote_ip = x.remote_ip,
  tls_version = x.tls_version, tls_cipher = x.tls_cipher, duration_ms = x.duration_ms`

/**
 * Records a batch of outcomes in one statement and one commit: attempts finished, recipients
 * updated (guarded by status and attempt number: if our lease ran out and another worker took
 * the recipient over, its newer attempt owns the row), one event per updated recipient, and
 * the email's status where this batch covers all of its recipients (`email_status` given).
 */
const RECORD_SQL = `
WITH ${ROWSET}, upd AS (
  UPDATE recipients r
     SET status = x.status, reason = x.reason, next_attempt_at = x.next_attempt_at, lease_until = NULL,
         last_code = x.smtp_code, last_enhanced_code = x.enhanced_code, last_reply = x.reply,
         possible_duplicate = r.possible_duplicate OR x.possible_duplicate, bounce_category = x.bounce_category, updated_at = now()
    FROM x
   WHERE r.id = x.recipient_id AND r.status = 'sending' AND r.attempt_count = x.attempt
  RETURNING r.id
), att AS (
  -- A success whose recipient was no longer ours is left to RECORD_LATE_SQL, which needs its
  -- attempt row still open to know it has not been recorded yet.
  UPDATE delivery_attempts a SET ${ATTEMPT_RESULT}
    FROM x LEFT JOIN upd ON upd.id = x.recipient_id
   WHERE a.id = x.attempt_id AND a.finished_at IS NULL AND (upd.id IS NOT NULL OR x.status NOT IN ('sent', 'delivered'))
  RETURNING 1
), ev AS (
  INSERT INTO events (id, account_id, email_id, recipient_id, recipient, type, data)
  SELECT x.event_id, x.account_id, x.email_id, x.recipient_id, x.address, x.event_type, x.event_data
    FROM x JOIN upd ON upd.id = x.recipient_id
  RETURNING recipient_id
), em AS (
  UPDATE emails e SET status = s.status, updated_at = now()
    FROM (SELECT x.email_id, min(x.email_status) AS status FROM x LEFT JOIN upd ON upd.id = x.recipient_id
           WHERE x.email_status IS NOT NULL GROUP BY x.email_id HAVING count(upd.id) = count(*)) s
   WHERE e.id = s.email_id AND e.status IS DISTINCT FROM s.status
  RETURNING 1
)
SELECT recipient_id FROM ev`

/**
 * A success reported after our claim had lapsed. The message was taken, so the recipient must
 * say so: one still waiting for a retry (or expired by the sweeper) becomes sent or delivered
 * and is not tried again; one that another attempt is sending, or already sent, is a duplicate
 * in the making and is flagged. Other statuses (a later bounce, a cancel) stay, and the event
 * tells the story.
 */
const RECORD_LATE_SQL = `
WITH ${ROWSET}, att AS (
  -- Open, or closed as abandoned when the lease lapsed: either way not recorded yet. Once this
  -- statement has filled it in, running it again changes nothing.
  UPDATE delivery_attempts a SET ${ATTEMPT_RESULT}
    FROM x WHERE a.id = x.attempt_id AND (a.finished_at IS NULL OR a.outcome = 'abandoned')
  RETURNING a.recipient_id
), upd AS (
  UPDATE recipients r
     SET status = CASE WHEN r.status IN ('queued', 'deferred', 'expired') THEN x.status ELSE r.status END,
         reason = CASE WHEN r.status IN ('queued', 'deferred', 'expired') THEN NULL ELSE r.reason END,
         next_attempt_at = CASE WHEN r.status IN ('queued', 'deferred', 'expired') THEN NULL ELSE r.next_attempt_at END,
         possible_duplicate = r.possible_duplicate OR r.status IN ('sending', 'sent', 'delivered'),
         last_code = x.smtp_code, last_enhanced_code = x.enhanced_code, last_reply = x.reply, updated_at = now()
    FROM x JOIN att ON att.recipient_id = x.recipient_id WHERE r.id = x.recipient_id
  RETURNING r.id, r.email_id
), ev AS (
  INSERT INTO events (id, account_id, email_id, recipient_id, recipient, type, data)
  SELECT x.event_id, x.account_id, x.email_id, x.recipient_id, x.address, x.event_type, x.event_data || '{"late": true}'::jsonb
    FROM x JOIN upd ON upd.id = x.recipient_id
  RETURNING 1
)
SELECT id AS recipient_id, email_id FROM upd`

const asJson = (outcomes: RecordedOutcome[]) =>
  JSON.stringify(
    outcomes.map((o) => ({
      attempt_id: o.attemptId,
      recipient_id: o.recipientId,
      attempt: o.attempt,
      status: o.status,
      reason: o.reason,
      next_attempt_at: o.nextAttemptAt?.toISOString() ?? null,
      phase: o.phase,
      smtp_code: o.smtpCode,
      enhanced_code: o.enhancedCode,
      reply: o.reply,
      remote_host: o.remoteHost,
      remote_ip: o.remoteIp,
      tls_version: o.tlsVersion,
      tls_cipher: o.tlsCipher,
      duration_ms: o.durationMs,
      possible_duplicate: o.possibleDuplicate,
      event_id: uuidv7(),
      account_id: o.accountId,
      email_id: o.emailId,
      address: o.address,
      event_type: o.eventType,
      event_data: o.eventData,
      email_status: o.emailStatus,
      bounce_category: o.bounceCategory,
    })),
  )

async function writeOutcomes(db: Queryable, outcomes: RecordedOutcome[]): Promise<Set<string>> {
  const { rows } = await db.query<{ recipient_id: string }>({ text: RECORD_SQL, values: [asJson(outcomes)] })
  return new Set(rows.map((row) => row.recipient_id))
}

export function createOutcomeRepository(pool: Pool) {
  return {
    /** Stores a batch of outcomes; returns the recipients it updated (those this attempt still held). */
    async record(outcomes: RecordedOutcome[]): Promise<Set<string>> {
      // Emails only partly in this batch get their status recomputed, and hard bounces suppress
      // their address, in the same transaction.
      if (outcomes.some((o) => o.emailStatus === null || o.bounceCategory === 'hard')) {
        return withTransaction(pool, async (client) => {
          const updated = await writeOutcomes(client, outcomes)
          const partial = outcomes.filter((o) => o.emailStatus === null && updated.has(o.recipientId)).map((o) => o.emailId)
          await refreshEmailStatuses(client, partial)
          const hard = outcomes.filter((o) => o.bounceCategory === 'hard' && updated.has(o.recipientId))
          await insertSuppressions(
            client,
            hard.map((o) => ({
              accountId: o.accountId,
              address: o.address,
              // A mailbox that does not exist is gone for every stream.
              stream: null,
              reason: 'hard_bounce' as const,
              source: { email_id: o.emailId, recipient_id: o.recipientId },
            })),
          )
          return updated
        })
      }
      return writeOutcomes(pool, outcomes)
    },

    /** Stores successes whose claim had lapsed (see RECORD_LATE_SQL); returns the recipients touched. */
    async recordLate(outcomes: RecordedOutcome[]): Promise<Set<string>> {
      if (outcomes.length === 0) return new Set()
      return withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ recipient_id: string; email_id: string }>({
          text: RECORD_LATE_SQL,
          values: [asJson(outcomes)],
        })
        await refreshEmailStatuses(
          client,
          rows.map((r) => r.email_id),
        )
        return new Set(rows.map((r) => r.recipient_id))
      })
    },
  }
}

export type OutcomeRepository = ReturnType<typeof createOutcomeRepository>
