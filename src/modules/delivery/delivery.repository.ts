import { type Pool, withTransaction } from '../../infra/db.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import { foldAddressSql, suppressionApplies } from '../suppressions/suppression.repository.js'
import type { ClaimedRecipient, ClaimRequest, EmailContent, HeldRecipient } from './delivery.types.js'
import { type ComposableRow, composableFromRow } from './mime.compose.js'

// A UUIDv7 made in SQL: millisecond time over a random v4, version and variant bits set.
export const SQL_UUIDV7 = `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
  substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid`

/**
 * The recipients a claim may take, as `r` (a recipients row) against the attempt number its
 * job expects: queued, deferred or scheduled ones for that attempt once due (with a little
 * clock skew), and `sending` ones whose lease ran out.
 */
const CLAIMABLE = (attempt: string) => `((r.status IN ('queued', 'deferred', 'scheduled') AND r.attempt_count = ${attempt} - 1
      AND r.next_attempt_at <= now() + interval '2 seconds')
   OR (r.status = 'sending' AND r.lease_until < now()))`

/**
 * Mail whose campaign is paused or cancelled, whose stream is paused for its account (the
 * complaint-rate guard), or whose account the operator suspended, is not handed to SMTP, as `e`
 * (the email): checked by the claim itself, so that a pause, cancel or suspension holds from the
 * moment it commits, whatever jobs are queued. (A takeover of a recipient already in flight goes
 * on: it was handed over before.) The account is one probe of its primary key.
 */
export const RUNNABLE = `(e.campaign_id IS NULL OR EXISTS (SELECT 1 FROM campaigns c WHERE c.id = e.campaign_id AND c.status = 'active'))
     AND NOT EXISTS (SELECT 1 FROM stream_pauses p WHERE p.account_id = e.account_id AND p.stream = e.stream AND p.resumed_at IS NULL)
     AND NOT EXISTS (SELECT 1 FROM accounts acct WHERE acct.id = e.account_id AND acct.suspended_at IS NOT NULL)`

/**
 * The claim (docs/architecture.md §3), for many deliveries in one statement and one commit: due recipients
 * become `sending` with a lease and get an attempt row, before any SMTP is spoken.
 * - Queued and deferred recipients are claimed only for the expected attempt number, once due
 *   (`next_attempt_at`, with a little clock skew), and only while the email has not expired: a
 *   resurrected or stale job never sends early or past the deadline.
 * - A recipient whose lease ran out is taken over. It is flagged `possible_duplicate` only when
 *   the dead attempt had reached DATA (its attempt row says so, written before the final dot);
 *   that attempt row is closed as abandoned either way, and the claimed row says `taken_over`.
 * - A recipient whose address is on the account's suppression list (for the email's stream or
 *   every stream, unexpired: suppressed after the email was accepted, by a hard bounce of another
 *   email say) is not claimed but settled (C8): `suppressed` with the list's reason, no lease, its
 *   attempt count unchanged, no attempt row, an `email.suppressed` event (a lapsed takeover's
 *   dead attempt is closed all the same). The same UPDATE decides: its multi-column SET looks the
 *   list up once per row it updates (one probe of the unique index on account, address and
 *   stream), so rows are found, locked and fenced exactly as by a claim with no list at all.
 * Each claimed row names the request (`ord`) it was claimed for: when two requests in one batch
 * name the same delivery, only one of them gets its recipients. The same statement returns each
 * email's content, once per email, and sets its status to `sending`. The ids of emails none of
 * whose recipients this statement claimed but some of which it suppressed (`quiet`) are returned:
 * the caller recomputes their status from all their recipients, under the email's lock, after
 * commit. (Recomputing it inside this statement meant a correlated scan of the updated rows per
 * recipient, quadratic in a batch of large emails, and from a snapshot that misses writers that
 * committed meanwhile.) Without any claim the statement still returns one row, with `id` null,
 * for `quiet`.
 */
const CLAIM_SQL = `
WITH req AS (SELECT * FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS q(delivery_id, attempt, ord)),
upd AS (
  UPDATE recipients r
     SET (status, reason, attempt_count, lease_until, next_attempt_at) = (
           SELECT CASE WHEN x.reason IS NULL THEN 'sending' ELSE 'suppressed' END::"RecipientStatus",
                  coalesce(x.reason::text, 'sending'),
                  r.attempt_count + CASE WHEN x.reason IS NULL THEN 1 ELSE 0 END,
                  CASE WHEN x.reason IS NULL THEN now() + $3 * interval '1 millisecond' END,
                  CASE WHEN x.reason IS NULL THEN now() + $3 * interval '1 millisecond' END
             FROM (SELECT min(s.reason) AS reason FROM suppressions s
                    WHERE ${suppressionApplies('s', 'r.account_id', foldAddressSql('r.address'), 'e.stream::text')}) x),
         possible_duplicate = r.possible_duplicate OR (r.status = 'sending' AND EXISTS (
           SELECT 1 FROM delivery_attempts a WHERE a.recipient_id = r.id AND a.finished_at IS NULL AND a.phase = 'data')),
         updated_at = now()
    FROM req, emails e
   WHERE r.delivery_id = req.delivery_id AND e.id = r.email_id AND e.expires_at > now() AND ${CLAIMABLE('req.attempt')}
     AND (r.status = 'sending' OR ${RUNNABLE})
  RETURNING r.id, r.delivery_id, r.email_id, r.account_id, r.address, r.attempt_count, r.possible_duplicate, req.ord,
            CASE WHEN r.status = 'suppressed' THEN r.reason END AS suppressed
),
claimed AS (SELECT * FROM upd WHERE suppressed IS NULL),
att AS (
  INSERT INTO delivery_attempts (id, recipient_id, email_id, number)
  SELECT ${SQL_UUIDV7}, c.id, c.email_id, c.attempt_count FROM claimed c
  RETURNING id, recipient_id
),
abandoned AS (
  -- The dead attempt of a takeover: below the new attempt number when claimed, at the unchanged one when suppressed.
  UPDATE delivery_attempts a SET finished_at = now(), outcome = 'abandoned'
    FROM upd u
   WHERE (u.attempt_count > 1 OR (u.suppressed IS NOT NULL AND u.attempt_count > 0))
     AND a.recipient_id = u.id AND a.finished_at IS NULL
     AND a.number < u.attempt_count + CASE WHEN u.suppressed IS NULL THEN 0 ELSE 1 END
  RETURNING a.recipient_id
),
suppressed_events AS (
  INSERT INTO events (id, account_id, email_id, recipient_id, recipient, type, data)
  SELECT ${SQL_UUIDV7}, u.account_id, u.email_id, u.id, u.address, 'email.suppressed', jsonb_build_object('reason', u.suppressed)
    FROM upd u WHERE u.suppressed IS NOT NULL
  RETURNING 1
),
sending AS (
  UPDATE emails e SET status = 'sending', updated_at = now()
   WHERE e.id IN (SELECT email_id FROM claimed) AND e.status <> 'sending'
  RETURNING 1
),
quiet AS (SELECT email_id FROM upd WHERE suppressed IS NOT NULL EXCEPT SELECT email_id FROM claimed)
SELECT m.*, q.quiet
  FROM (SELECT coalesce(json_agg(email_id), '[]') AS quiet FROM quiet) q
  LEFT JOIN (
    SELECT e.id, e.account_id, e.from_header, e.envelope_from, e.to_header, e.cc_header, e.reply_to, e.subject, e.text, e.html,
           e.headers, e.message_id, e.raw, e.created_at, e.expires_at, e.tags, e.size_bytes, e.stream,
           (SELECT count(*) FROM recipients r2 WHERE r2.email_id = e.id) AS recipient_count,
           EXISTS (SELECT 1 FROM email_attachments a WHERE a.email_id = e.id) AS has_attachments,
           json_agg(json_build_object('id', c.id, 'delivery_id', c.delivery_id, 'account_id', c.account_id, 'address', c.address,
             'attempt', c.attempt_count, 'attempt_id', att.id, 'possible_duplicate', c.possible_duplicate, 'ord', c.ord,
             'taken_over', c.id IN (SELECT recipient_id FROM abandoned)) ORDER BY c.id) AS claimed
      FROM claimed c JOIN att ON att.recipient_id = c.id JOIN emails e ON e.id = c.email_id
     GROUP BY e.id
  ) m ON true`

/** A row of the claim's answer: an email with its claimed recipients, or (with `id` null) none, only `quiet`. */
interface ClaimRow extends ComposableRow {
  id: string | null
  account_id: string
  envelope_from: string
  expires_at: Date
  tags: Record<string, string>
  size_bytes: number
  recipient_count: number
  stream: string
  has_attachments: boolean
  claimed: Array<{
    id: string
    delivery_id: string
    account_id: string
    address: string
    attempt: number
    attempt_id: string
    possible_duplicate: boolean
    ord: number
    taken_over: boolean
  }>
  /** Emails whose recipients the claim only suppressed (see CLAIM_SQL); on every row. */
  quiet: string[]
}

interface AttachmentRow {
  email_id: string
  filename: string
  content_type: string
  content_id: string | null
  content: Buffer
}

export interface ClaimResult {
  recipients: ClaimedRecipient[]
  emails: Map<string, EmailContent>
  /** Emails none of whose recipients were claimed but some suppressed: their status is to be recomputed (`refreshStatuses`). */
  quiet: string[]
}

// Lease statements are fenced like every write of an attempt: status `sending` and the attempt
// number it claimed. A row another worker has taken over is not ours to renew or release.
const HELD = `x AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[]) AS x(recipient_id, attempt, attempt_id))`
// Only lease_until moves (it is not indexed, so the update stays on its page); next_attempt_at
// keeps the claim's lease end, and the sweeper looks at lease_until before taking a row over.
const RENEW = `renewed AS (
  UPDATE recipients r SET lease_until = now() + $4 * interval '1 millisecond'
    FROM x WHERE r.id = x.recipient_id AND r.status = 'sending' AND r.attempt_count = x.attempt
  RETURNING r.id
)`

/** Extends the leases of held recipients; returns those still held. */
const RENEW_SQL = `WITH ${HELD}, ${RENEW} SELECT id AS recipient_id FROM renewed`

/**
 * Before the final dot: renews the leases and records on each attempt row that it reached DATA,
 * in one statement. Writing the recipient row is what orders this against a takeover: a claim
 * that meets the renewed row re-checks it, finds the lease running and leaves it; a claim that
 * came first changed the attempt number, so nothing is marked and the dot is not sent. (A mere
 * row lock would not do: a claim waiting on it goes on without re-checking the row.)
 */
const MARK_DATA_SQL = `WITH ${HELD}, ${RENEW}, marked AS (
  UPDATE delivery_attempts a SET phase = 'data' FROM x JOIN renewed ON renewed.id = x.recipient_id
   WHERE a.id = x.attempt_id AND a.finished_at IS NULL
  RETURNING a.recipient_id
) SELECT recipient_id FROM marked`

/** Gives back claims that never reached DATA: queued again at once, the attempt row closed as released. */
const RELEASE_SQL = `WITH ${HELD}, released AS (
  UPDATE recipients r SET status = 'queued', reason = 'queued', next_attempt_at = now(), lease_until = NULL, updated_at = now()
    FROM x WHERE r.id = x.recipient_id AND r.status = 'sending' AND r.attempt_count = x.attempt
  RETURNING r.id, r.email_id
), closed AS (
  UPDATE delivery_attempts a SET finished_at = now(), outcome = 'released'
    FROM x JOIN released ON released.id = x.recipient_id
   WHERE a.id = x.attempt_id AND a.finished_at IS NULL
  RETURNING 1
) SELECT id AS recipient_id, email_id FROM released`

/**
 * Undoes claims that found their sender held at the destination before anything was sent: the
 * attempt never happened (its row goes, the attempt count goes back), and the recipients wait
 * until the hold ends, with its reason.
 */
const HOLD_BACK_SQL = `WITH ${HELD}, back AS (
  UPDATE recipients r
     SET status = CASE WHEN r.attempt_count > 1 THEN 'deferred' ELSE 'queued' END::"RecipientStatus", reason = $5,
         attempt_count = r.attempt_count - 1, next_attempt_at = LEAST($4::timestamptz, e.expires_at), lease_until = NULL,
         updated_at = now()
    FROM x, emails e
   WHERE r.id = x.recipient_id AND e.id = r.email_id AND r.status = 'sending' AND r.attempt_count = x.attempt
  RETURNING r.id, r.email_id
), gone AS (
  DELETE FROM delivery_attempts a USING x JOIN back ON back.id = x.recipient_id
   WHERE a.id = x.attempt_id AND a.finished_at IS NULL
  RETURNING 1
) SELECT id AS recipient_id, email_id FROM back`

const heldParams = (held: HeldRecipient[]) => [held.map((h) => h.recipientId), held.map((h) => h.attempt), held.map((h) => h.attemptId)]

export function createDeliveryRepository(pool: Pool, options: { leaseMs: number }) {
  const { leaseMs } = options

  return {
    async claim(requests: ClaimRequest[]): Promise<ClaimResult> {
      const { rows } = await pool.query<ClaimRow>({
        text: CLAIM_SQL,
        values: [requests.map((r) => r.deliveryId), requests.map((r) => r.attempt), leaseMs],
      })
      const recipients: ClaimedRecipient[] = []
      const emails = new Map<string, EmailContent>()
      for (const row of rows) {
        if (row.id === null) continue
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
            takenOver: c.taken_over,
          })
        }
        emails.set(row.id, {
          id: row.id,
          accountId: row.account_id,
          ...composableFromRow(row),
          envelopeFrom: row.envelope_from,
          expiresAt: row.expires_at,
          tags: row.tags,
          sizeBytes: row.size_bytes,
          recipientCount: row.recipient_count,
          stream: row.stream,
          attachments: [],
        })
      }
      const withAttachments = rows.flatMap((row) => (row.id !== null && row.has_attachments ? [row.id] : []))
      if (withAttachments.length > 0) {
        const { rows: files } = await pool.query<AttachmentRow>(
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
      return { recipients, emails, quiet: rows[0]?.quiet ?? [] }
    },

    /**
     * Recomputes the status of emails from all their recipients, each under its row lock (after
     * a claim that suppressed recipients of theirs: see CLAIM_SQL).
     */
    async refreshStatuses(emailIds: string[]): Promise<void> {
      await withTransaction(pool, (client) => refreshEmailStatuses(client, emailIds))
    },

    /** Renews the leases of recipients being sent; returns the ids still held. */
    async renewLeases(held: HeldRecipient[]): Promise<Set<string>> {
      const { rows } = await pool.query<{ recipient_id: string }>(RENEW_SQL, [...heldParams(held), leaseMs])
      return new Set(rows.map((r) => r.recipient_id))
    },

    /** Records that these attempts reached DATA (and renews their leases); returns the ids still held. */
    async markData(held: HeldRecipient[]): Promise<Set<string>> {
      const { rows } = await pool.query<{ recipient_id: string }>(MARK_DATA_SQL, [...heldParams(held), leaseMs])
      return new Set(rows.map((r) => r.recipient_id))
    },

    /** Puts claims that never reached DATA back in the queue (graceful shutdown); returns the ids released. */
    async release(held: HeldRecipient[]): Promise<Set<string>> {
      return withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ recipient_id: string; email_id: string }>(RELEASE_SQL, heldParams(held))
        await refreshEmailStatuses(
          client,
          rows.map((r) => r.email_id),
        )
        return new Set(rows.map((r) => r.recipient_id))
      })
    },

    /** Undoes claims whose sender is held (see HOLD_BACK_SQL); returns the ids given back. */
    async holdBack(held: HeldRecipient[], until: Date, reason: string): Promise<Set<string>> {
      return withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ recipient_id: string; email_id: string }>(HOLD_BACK_SQL, [...heldParams(held), until, reason])
        await refreshEmailStatuses(
          client,
          rows.map((r) => r.email_id),
        )
        return new Set(rows.map((r) => r.recipient_id))
      })
    },

    /**
     * Shows why a delivery's recipients wait (a paused or busy destination) and until when, without
     * claiming them: no attempt is made or counted.
     */
    async markWaiting(deliveryId: string, until: Date, reason: string): Promise<void> {
      // Never past the message's expiry: the sweeper expires it then, whatever the destination says.
      await pool.query(
        `UPDATE recipients r SET reason = $3, next_attempt_at = LEAST($2::timestamptz, e.expires_at), updated_at = now()
           FROM emails e
          WHERE r.delivery_id = $1 AND e.id = r.email_id AND r.status IN ('scheduled', 'queued', 'deferred')`,
        [deliveryId, until, reason],
      )
    },
  }
}

export type DeliveryRepository = ReturnType<typeof createDeliveryRepository>
