import type { Pool, PoolClient } from '../../infra/db.js'
import { uuidv7 } from '../../lib/uuid.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import type { RecipientStatus } from '../emails/email.types.js'
import type { EventData, EventType } from '../events/event.types.js'
import type { ComposableAttachment, ComposableEmail } from './mime.compose.js'

type Queryable = Pick<PoolClient, 'query'>

export interface ClaimRequest {
  deliveryId: string
  attempt: number
}

export interface ClaimedRecipient {
  id: string
  deliveryId: string
  emailId: string
  accountId: string
  address: string
  attempt: number
  attemptId: string
  possibleDuplicate: boolean
}

/**
 * The claim (DESIGN §2.1), for many deliveries in one statement: due recipients become
 * `sending` with a lease, committed before any SMTP is spoken. A recipient whose previous lease
 * ran out is taken over and flagged, since its last attempt may have reached the server.
 */
const CLAIM_SQL = `
WITH req AS (SELECT * FROM unnest($1::uuid[], $2::int[]) AS q(delivery_id, attempt))
UPDATE recipients r
   SET status = 'sending', reason = 'sending', attempt_count = r.attempt_count + 1,
       lease_until = now() + $3 * interval '1 millisecond',
       next_attempt_at = now() + $3 * interval '1 millisecond',
       possible_duplicate = r.possible_duplicate OR r.status = 'sending',
       updated_at = now()
  FROM req
 WHERE r.delivery_id = req.delivery_id
   AND ((r.status IN ('queued', 'deferred') AND r.attempt_count = req.attempt - 1)
     OR (r.status = 'scheduled' AND r.attempt_count = req.attempt - 1 AND r.next_attempt_at <= now() + interval '2 seconds')
     OR (r.status = 'sending' AND r.lease_until < now()))
RETURNING r.id, r.delivery_id, r.email_id, r.account_id, r.address, r.attempt_count, r.possible_duplicate`

const INSERT_ATTEMPTS = `
INSERT INTO delivery_attempts (id, recipient_id, email_id, number)
SELECT id, recipient_id, email_id, number FROM json_to_recordset($1::json) AS x(id uuid, recipient_id uuid, email_id uuid, number int)`

export async function claimRecipients(db: Queryable, requests: ClaimRequest[], leaseMs: number): Promise<ClaimedRecipient[]> {
  const { rows } = await db.query(CLAIM_SQL, [requests.map((r) => r.deliveryId), requests.map((r) => r.attempt), leaseMs])
  const claimed: ClaimedRecipient[] = rows.map((row) => ({
    id: row.id,
    deliveryId: row.delivery_id,
    emailId: row.email_id,
    accountId: row.account_id,
    address: row.address,
    attempt: row.attempt_count,
    attemptId: uuidv7(),
    possibleDuplicate: row.possible_duplicate,
  }))
  if (claimed.length > 0) {
    await db.query(INSERT_ATTEMPTS, [
      JSON.stringify(claimed.map((c) => ({ id: c.attemptId, recipient_id: c.id, email_id: c.emailId, number: c.attempt }))),
    ])
  }
  return claimed
}

export interface EmailContent extends ComposableEmail {
  id: string
  envelopeFrom: string
  expiresAt: Date
  tags: Record<string, string>
  attachments: ComposableAttachment[]
}

export async function loadEmails(pool: Pool, ids: string[]): Promise<Map<string, EmailContent>> {
  const unique = [...new Set(ids)]
  const [emails, attachments] = await Promise.all([
    pool.query(
      `SELECT id, from_header, envelope_from, to_header, cc_header, reply_to, subject, text, html, headers, message_id,
              raw, created_at, expires_at, tags
         FROM emails WHERE id = ANY($1::uuid[])`,
      [unique],
    ),
    pool.query(
      `SELECT email_id, filename, content_type, content_id, content FROM email_attachments
        WHERE email_id = ANY($1::uuid[]) ORDER BY email_id, position`,
      [unique],
    ),
  ])
  const result = new Map<string, EmailContent>()
  for (const row of emails.rows) {
    result.set(row.id, {
      id: row.id,
      fromHeader: row.from_header,
      envelopeFrom: row.envelope_from,
      toHeader: row.to_header,
      ccHeader: row.cc_header,
      replyTo: row.reply_to,
      subject: row.subject,
      text: row.text,
      html: row.html,
      headers: row.headers,
      messageId: row.message_id,
      raw: row.raw,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      tags: row.tags,
      attachments: [],
    })
  }
  for (const row of attachments.rows) {
    result.get(row.email_id)?.attachments.push({
      filename: row.filename,
      contentType: row.content_type,
      contentId: row.content_id,
      content: row.content,
    })
  }
  return result
}

/** One recipient's result of one attempt, as it will be stored. */
export interface RecordedOutcome {
  recipientId: string
  attemptId: string
  attempt: number
  emailId: string
  accountId: string
  address: string
  status: Extract<RecipientStatus, 'sent' | 'delivered' | 'deferred' | 'bounced' | 'expired' | 'failed'>
  reason: string | null
  nextAttemptAt: Date | null
  phase: string
  smtpCode: number | null
  enhancedCode: string | null
  reply: string | null
  remoteHost: string | null
  remoteIp: string | null
  tlsVersion: string | null
  tlsCipher: string | null
  durationMs: number
  possibleDuplicate: boolean
  eventType: EventType
  eventData: EventData
}

const FINISH_ATTEMPTS = `
UPDATE delivery_attempts a
   SET finished_at = now(), outcome = x.outcome, phase = x.phase, smtp_code = x.smtp_code, enhanced_code = x.enhanced_code,
       reply = x.reply, remote_host = x.remote_host, remote_ip = x.remote_ip, tls_version = x.tls_version,
       tls_cipher = x.tls_cipher, duration_ms = x.duration_ms
  FROM json_to_recordset($1::json) AS x(id uuid, outcome text, phase text, smtp_code int, enhanced_code text, reply text,
       remote_host text, remote_ip text, tls_version text, tls_cipher text, duration_ms int)
 WHERE a.id = x.id`

// Guarded by attempt number and status: if our lease ran out and another worker took the
// recipient over, its newer attempt owns the row and this stale result only finishes its attempt.
const FINISH_RECIPIENTS = `
WITH x AS (
  SELECT * FROM json_to_recordset($1::json) AS x(recipient_id uuid, attempt int, status "RecipientStatus", reason text,
    next_attempt_at timestamptz, smtp_code int, enhanced_code text, reply text, possible_duplicate boolean,
    event_id uuid, account_id uuid, email_id uuid, address text, event_type text, event_data jsonb)
), upd AS (
  UPDATE recipients r
     SET status = x.status, reason = x.reason, next_attempt_at = x.next_attempt_at, lease_until = NULL,
         last_code = x.smtp_code, last_enhanced_code = x.enhanced_code, last_reply = x.reply,
         possible_duplicate = r.possible_duplicate OR x.possible_duplicate, updated_at = now()
    FROM x
   WHERE r.id = x.recipient_id AND r.status = 'sending' AND r.attempt_count = x.attempt
  RETURNING r.id
)
INSERT INTO events (id, account_id, email_id, recipient_id, recipient, type, data)
SELECT x.event_id, x.account_id, x.email_id, x.recipient_id, x.address, x.event_type, x.event_data
  FROM x JOIN upd ON upd.id = x.recipient_id
RETURNING recipient_id`

/** Stores a batch of outcomes in the caller's transaction; returns the recipients it updated. */
export async function recordOutcomes(db: Queryable, outcomes: RecordedOutcome[]): Promise<Set<string>> {
  await db.query(FINISH_ATTEMPTS, [
    JSON.stringify(
      outcomes.map((o) => ({
        id: o.attemptId,
        outcome: o.status,
        phase: o.phase,
        smtp_code: o.smtpCode,
        enhanced_code: o.enhancedCode,
        reply: o.reply,
        remote_host: o.remoteHost,
        remote_ip: o.remoteIp,
        tls_version: o.tlsVersion,
        tls_cipher: o.tlsCipher,
        duration_ms: o.durationMs,
      })),
    ),
  ])
  const { rows } = await db.query<{ recipient_id: string }>(FINISH_RECIPIENTS, [
    JSON.stringify(
      outcomes.map((o) => ({
        recipient_id: o.recipientId,
        attempt: o.attempt,
        status: o.status,
        reason: o.reason,
        next_attempt_at: o.nextAttemptAt?.toISOString() ?? null,
        smtp_code: o.smtpCode,
        enhanced_code: o.enhancedCode,
        reply: o.reply,
        possible_duplicate: o.possibleDuplicate,
        event_id: uuidv7(),
        account_id: o.accountId,
        email_id: o.emailId,
        address: o.address,
        event_type: o.eventType,
        event_data: o.eventData,
      })),
    ),
  ])
  await refreshEmailStatuses(
    db,
    outcomes.map((o) => o.emailId),
  )
  return new Set(rows.map((row) => row.recipient_id))
}
