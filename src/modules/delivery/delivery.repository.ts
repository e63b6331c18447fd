import { type Pool, withTransaction } from '../../infra/db.js'
import { uuidv7 } from '../../lib/uuid.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import type { EmailStatus, RecipientStatus } from '../emails/email.types.js'
import type { EventData, EventType } from '../events/event.types.js'
import type { ComposableAttachment, ComposableEmail } from './mime.compose.js'

export interface ClaimRequest {
  deliveryId: string
  attempt: number
  /** `relay`, or the recipient domain of an MX delivery. */
  route?: string
  /** When this job was first queued: how long a busy destination has kept it waiting. */
  waitingSince?: number
}

// A UUIDv7 made in SQL: millisecond time over a random v4, version and variant bits set.
const SQL_UUIDV7 = `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
  substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid`

/**
 * The claim (DESIGN §2.1), for many deliveries in one statement and one commit: due recipients
 * become `sending` with a lease and get an attempt row, before any SMTP is spoken. A recipient
 * whose previous lease ran out is taken over and flagged, since its last attempt may have
 * reached the server; that attempt is closed as abandoned. The email's status becomes `sending`.
 * Each claimed row names the request (`ord`) it was claimed for: when two requests in one batch
 * name the same delivery, only one of them gets its recipients. The same statement returns each
 * email's content, once per email.
 */
const CLAIM_SQL = `
WITH req AS (SELECT * FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS q(delivery_id, attempt, ord)),
claimed AS (
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
  RETURNING r.id, r.delivery_id, r.email_id, r.account_id, r.address, r.attempt_count, r.possible_duplicate, req.ord
),
att AS (
  INSERT INTO delivery_attempts (id, recipient_id, email_id, number)
  SELECT ${SQL_UUIDV7}, c.id, c.email_id, c.attempt_count FROM claimed c
  RETURNING id, recipient_id
),
abandoned AS (
  UPDATE delivery_attempts a SET finished_at = now(), outcome = 'abandoned'
    FROM claimed c
   WHERE c.possible_duplicate AND a.recipient_id = c.id AND a.finished_at IS NULL AND a.number < c.attempt_count
  RETURNING 1
),
sending AS (
  UPDATE emails e SET status = 'sending', updated_at = now()
   WHERE e.id IN (SELECT email_id FROM claimed) AND e.status <> 'sending'
  RETURNING 1
)
SELECT e.id, e.account_id, e.from_header, e.envelope_from, e.to_header, e.cc_header, e.reply_to, e.subject, e.text, e.html, e.headers,
       e.message_id, e.raw, e.created_at, e.expires_at, e.tags,
       (SELECT count(*) FROM recipients r2 WHERE r2.email_id = e.id) AS recipient_count,
       EXISTS (SELECT 1 FROM email_attachments a WHERE a.email_id = e.id) AS has_attachments,
       json_agg(json_build_object('id', c.id, 'delivery_id', c.delivery_id, 'account_id', c.account_id, 'address', c.address,
         'attempt', c.attempt_count, 'attempt_id', att.id, 'possible_duplicate', c.possible_duplicate, 'ord', c.ord) ORDER BY c.id) AS claimed
  FROM claimed c JOIN att ON att.recipient_id = c.id JOIN emails e ON e.id = c.email_id
 GROUP BY e.id`

export interface ClaimedRecipient {
  id: string
  /** Index of the request (in the batch) this recipient was claimed for. */
  request: number
  deliveryId: string
  emailId: string
  accountId: string
  address: string
  attempt: number
  attemptId: string
  possibleDuplicate: boolean
}

export interface EmailContent extends ComposableEmail {
  id: string
  accountId: string
  envelopeFrom: string
  expiresAt: Date
  tags: Record<string, string>
  recipientCount: number
  attachments: ComposableAttachment[]
}

export interface ClaimResult {
  recipients: ClaimedRecipient[]
  emails: Map<string, EmailContent>
}

export async function claimRecipients(pool: Pool, requests: ClaimRequest[], leaseMs: number): Promise<ClaimResult> {
  const { rows } = await pool.query({
    text: CLAIM_SQL,
    values: [requests.map((r) => r.deliveryId), requests.map((r) => r.attempt), leaseMs],
  })
  const recipients: ClaimedRecipient[] = []
  const emails = new Map<string, EmailContent>()
  for (const row of rows) {
    for (const c of row.claimed) {
      recipients.push({
        id: c.id,
        request: Number(c.ord) - 1,
        deliveryId: c.delivery_id,
        emailId: row.id,
        accountId: c.account_id,
        address: c.address,
        attempt: c.attempt,
        attemptId: c.attempt_id,
        possibleDuplicate: c.possible_duplicate,
      })
    }
    emails.set(row.id, {
      id: row.id,
      accountId: row.account_id,
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
      recipientCount: row.recipient_count,
      attachments: [],
    })
  }
  const withAttachments = rows.filter((row) => row.has_attachments).map((row) => row.id as string)
  if (withAttachments.length > 0) {
    const { rows: files } = await pool.query(
      `SELECT email_id, filename, content_type, content_id, content FROM email_attachments
        WHERE email_id = ANY($1::uuid[]) ORDER BY email_id, position`,
      [withAttachments],
    )
    for (const f of files) {
      emails
        .get(f.email_id)
        ?.attachments.push({ filename: f.filename, contentType: f.content_type, contentId: f.content_id, content: f.content })
    }
  }
  return { recipients, emails }
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
  /** The email's new status when this batch holds all of its recipients; null to recompute it. */
  emailStatus: EmailStatus | null
}

/**
 * Records a batch of outcomes in one statement and one commit: attempts finished, recipients
 * updated (guarded by status and attempt number: if our lease ran out and another worker took
 * the recipient over, its newer attempt owns the row), one event per updated recipient, and
 * the email's status where this batch covers all of its recipients (`email_status` given).
 */
const RECORD_SQL = `
WITH x AS MATERIALIZED (
  SELECT * FROM json_to_recordset($1::json) AS x(attempt_id uuid, recipient_id uuid, attempt int, status "RecipientStatus",
    reason text, next_attempt_at timestamptz, phase text, smtp_code int, enhanced_code text, reply text, remote_host text,
    remote_ip text, tls_version text, tls_cipher text, duration_ms int, possible_duplicate boolean, event_id uuid,
    account_id uuid, email_id uuid, address text, event_type text, event_data jsonb, email_status "EmailStatus")
), att AS (
  UPDATE delivery_attempts a
     SET finished_at = now(), outcome = x.status::text, phase = x.phase, smtp_code = x.smtp_code, enhanced_code = x.enhanced_code,
         reply = x.reply, remote_host = x.remote_host, remote_ip = x.remote_ip, tls_version = x.tls_version,
         tls_cipher = x.tls_cipher, duration_ms = x.duration_ms
    FROM x WHERE a.id = x.attempt_id
  RETURNING 1
), upd AS (
  UPDATE recipients r
     SET status = x.status, reason = x.reason, next_attempt_at = x.next_attempt_at, lease_until = NULL,
         last_code = x.smtp_code, last_enhanced_code = x.enhanced_code, last_reply = x.reply,
         possible_duplicate = r.possible_duplicate OR x.possible_duplicate, updated_at = now()
    FROM x
   WHERE r.id = x.recipient_id AND r.status = 'sending' AND r.attempt_count = x.attempt
  RETURNING r.id
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

/** Stores a batch of outcomes; returns the recipients it updated. */
export async function recordOutcomes(pool: Pool, outcomes: RecordedOutcome[]): Promise<Set<string>> {
  // Emails only partly in this batch get their status recomputed, in the same transaction.
  if (outcomes.some((o) => o.emailStatus === null)) {
    return withTransaction(pool, async (client) => {
      const updated = await writeOutcomes(client, outcomes)
      const partial = outcomes.filter((o) => o.emailStatus === null && updated.has(o.recipientId)).map((o) => o.emailId)
      await refreshEmailStatuses(client, partial)
      return updated
    })
  }
  return writeOutcomes(pool, outcomes)
}

async function writeOutcomes(db: Pick<Pool, 'query'>, outcomes: RecordedOutcome[]): Promise<Set<string>> {
  const { rows } = await db.query<{ recipient_id: string }>({
    text: RECORD_SQL,
    values: [
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
        })),
      ),
    ],
  })
  return new Set(rows.map((row) => row.recipient_id))
}

/**
 * Shows why a delivery's recipients wait (a paused or busy destination) and until when, without
 * claiming them: no attempt is made or counted.
 */
export async function markWaiting(pool: Pool, deliveryId: string, until: Date, reason: string): Promise<void> {
  // Never past the message's expiry: the sweeper expires it then, whatever the destination says.
  await pool.query(
    `UPDATE recipients r SET reason = $3, next_attempt_at = LEAST($2::timestamptz, e.expires_at), updated_at = now()
       FROM emails e
      WHERE r.delivery_id = $1 AND e.id = r.email_id AND r.status IN ('scheduled', 'queued', 'deferred')`,
    [deliveryId, until, reason],
  )
}
