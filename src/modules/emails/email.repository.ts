import { type Pool, type PoolClient, withTransaction } from '../../infra/db.js'
import {
  endBackend,
  guardRepository,
  onPooledConnection,
  type RepositoryDeps,
  StatementFailure,
  withFreshConnection,
} from '../../infra/db-boundary.js'
import { uuidv7, uuidv7LowerBound } from '../../lib/uuid.js'
import { eventRow, insertEvents, listEmailEvents } from '../events/event.repository.js'
import type { NewEvent } from '../events/event.types.js'
import { foldAddressSql, suppressionApplies } from '../suppressions/suppression.repository.js'
import { acceptedBody, markSuppressed } from './email.rows.js'
import { aggregateStatus } from './email.status.js'
import type { Accepted, EmailStatus, RecipientKind, RecipientStatus } from './email.types.js'
import { IDEMPOTENCY_TTL_MS } from './idempotency.js'

type Queryable = Pick<PoolClient, 'query'>

/** Everything one accepted message adds, written together in the accepting transaction. */
export interface NewEmailRows {
  email: {
    id: string
    account_id: string
    api_key_id: string | null
    source: 'api' | 'smtp'
    status: EmailStatus
    from_header: string
    envelope_from: string
    to_header: string[]
    cc_header: string[]
    reply_to: string[]
    subject: string
    text: string | null
    html: string | null
    headers: Record<string, string>
    tags: Record<string, string>
    stream: string
    message_id: string
    raw: string | null
    size_bytes: number
    scheduled_at: string | null
    expires_at: string
    created_at: string
    campaign_id: string | null
    template_id: string | null
    template_version: number | null
  }
  attachments: Array<{
    id: string
    email_id: string
    position: number
    filename: string
    content_type: string
    content_id: string | null
    content: string
    size: number
  }>
  deliveries: Array<{ id: string; email_id: string; route: string }>
  recipients: Array<{
    id: string
    email_id: string
    delivery_id: string
    account_id: string
    address: string
    kind: string
    status: RecipientStatus
    reason: string
    /** Null for a recipient suppressed at accept: it is never attempted. */
    next_attempt_at: string | null
  }>
  events: NewEvent[]
}

// One statement per batch: data-modifying CTEs run as one atomic implicit transaction, so a
// whole batch of accepted messages costs one round trip and one commit. Rows travel as one JSON
// document per table, which keeps the SQL text constant whatever the batch size.
//
// The hot statements are deliberately not named prepared statements: a cached generic plan made
// while a table was small (a seq scan) outlives the table's growth until the next ANALYZE, and
// planning each batch afresh costs less than one such plan.
//
// The same statement checks the suppression list (C8), so that costs no round trip of its own:
// `sup` holds the recipients on their account's list for their email's stream (one probe each of
// its unique index), and they are written `suppressed` with the entry's reason, no next attempt,
// and an `email.suppressed` event instead of the accept event; an email all of whose recipients
// are suppressed (as many in `sup` as it has) is written `suppressed`, otherwise its pending status
// stands, as `aggregateStatus` has it. The statement returns the suppressed recipients.
const INSERT_EMAILS = `
WITH rin AS MATERIALIZED (
  SELECT * FROM json_to_recordset($4::json) AS x(id uuid, email_id uuid, delivery_id uuid, account_id uuid, address text,
    kind "RecipientKind", status "RecipientStatus", reason text, next_attempt_at timestamptz, stream text)
), sup AS MATERIALIZED (
  SELECT x.id, min(s.reason) AS reason, x.email_id
    FROM rin x JOIN suppressions s ON ${suppressionApplies('s', 'x.account_id', foldAddressSql('x.address'), 'x.stream')}
   GROUP BY x.id, x.email_id
), e AS (
  INSERT INTO emails (id, account_id, api_key_id, source, status, from_header, envelope_from, to_header, cc_header,
    reply_to, subject, text, html, headers, tags, stream, message_id, raw, size_bytes, scheduled_at, expires_at, created_at, updated_at,
    campaign_id, template_id, template_version)
  SELECT id, account_id, api_key_id, source,
    CASE WHEN recipient_count = (SELECT count(*) FROM sup WHERE sup.email_id = x.id) THEN 'suppressed' ELSE status END,
    from_header, envelope_from, to_header, cc_header, reply_to, subject,
    text, html, headers, tags, stream, message_id, decode(raw, 'base64'), size_bytes, scheduled_at, expires_at, created_at, created_at,
    campaign_id, template_id, template_version
  FROM json_to_recordset($1::json) AS x(id uuid, account_id uuid, api_key_id uuid, source "EmailSource", status "EmailStatus",
    from_header text, envelope_from text, to_header jsonb, cc_header jsonb, reply_to jsonb, subject text, text text, html text,
    headers jsonb, tags jsonb, stream text, message_id text, raw text, size_bytes int, scheduled_at timestamptz,
    expires_at timestamptz, created_at timestamptz, recipient_count int, campaign_id uuid, template_id uuid, template_version int)
  RETURNING 1
), a AS (
  INSERT INTO email_attachments (id, email_id, position, filename, content_type, content_id, content, size)
  SELECT id, email_id, position, filename, content_type, content_id, decode(content, 'base64'), size
  FROM json_to_recordset($2::json) AS x(id uuid, email_id uuid, position int, filename text, content_type text,
    content_id text, content text, size int)
  RETURNING 1
), d AS (
  INSERT INTO deliveries (id, email_id, route)
  SELECT id, email_id, route FROM json_to_recordset($3::json) AS x(id uuid, email_id uuid, route text)
  RETURNING 1
), r AS (
  INSERT INTO recipients (id, email_id, delivery_id, account_id, address, kind, status, reason, next_attempt_at)
  SELECT x.id, x.email_id, x.delivery_id, x.account_id, x.address, x.kind,
    CASE WHEN s.id IS NULL THEN x.status ELSE 'suppressed' END, coalesce(s.reason::text, x.reason),
    CASE WHEN s.id IS NULL THEN x.next_attempt_at END
  FROM rin x LEFT JOIN sup s ON s.id = x.id
  RETURNING 1
), ev AS (
  INSERT INTO events (id, account_id, email_id, recipient_id, recipient, type, data, created_at)
  SELECT x.id, x.account_id, x.email_id, x.recipient_id, x.recipient,
    CASE WHEN s.id IS NULL THEN x.type ELSE 'email.suppressed' END,
    CASE WHEN s.id IS NULL THEN x.data ELSE jsonb_build_object('reason', s.reason) END, x.created_at
  FROM json_to_recordset($5::json) AS x(id uuid, account_id uuid, email_id uuid, recipient_id uuid, recipient text,
    type text, data jsonb, created_at timestamptz)
  LEFT JOIN sup s ON s.id = x.recipient_id
  RETURNING 1
)
SELECT id, reason FROM sup`

/**
 * Writes a batch (INSERT_EMAILS) and marks in the caller's rows the recipients it wrote as
 * suppressed (`markSuppressed`), so the rows say what was committed.
 */
export async function insertEmails(db: Queryable, batch: NewEmailRows[]): Promise<void> {
  const { rows: marked } = await db.query<{ id: string; reason: string }>({
    text: INSERT_EMAILS,
    values: [
      JSON.stringify(batch.map((b) => ({ ...b.email, recipient_count: b.recipients.length }))),
      JSON.stringify(batch.flatMap((b) => b.attachments)),
      JSON.stringify(batch.flatMap((b) => b.deliveries)),
      JSON.stringify(batch.flatMap((b) => b.recipients.map((r) => ({ ...r, stream: b.email.stream })))),
      JSON.stringify(batch.flatMap((b) => b.events.map((e) => ({ ...eventRow(e), created_at: b.email.created_at })))),
    ],
  })
  if (marked.length === 0) return
  const suppressed = new Map(marked.map((row) => [row.id, row.reason]))
  for (const rows of batch) markSuppressed(rows, (recipientId) => suppressed.get(recipientId))
}

/**
 * Recomputes the stored status of emails from their recipients. Rows are locked in id order
 * first, so of two transactions touching one email the later sees the earlier's committed
 * recipients and the stored status never lags behind them.
 */
export async function refreshEmailStatuses(db: Queryable, emailIds: string[]): Promise<void> {
  if (emailIds.length === 0) return
  const ids = [...new Set(emailIds)].sort()
  await db.query('SELECT id FROM emails WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [ids])
  const { rows } = await db.query<{ email_id: string; statuses: RecipientStatus[] }>(
    'SELECT email_id, array_agg(status::text) AS statuses FROM recipients WHERE email_id = ANY($1::uuid[]) GROUP BY email_id',
    [ids],
  )
  const updates = rows.map((row) => ({ id: row.email_id, status: aggregateStatus(row.statuses) }))
  await db.query(
    `UPDATE emails e SET status = x.status, updated_at = now()
       FROM json_to_recordset($1::json) AS x(id uuid, status "EmailStatus")
      WHERE e.id = x.id AND e.status IS DISTINCT FROM x.status`,
    [JSON.stringify(updates)],
  )
}

export interface ListFilter {
  accountId: string
  status?: EmailStatus
  recipientStatus?: RecipientStatus
  recipient?: string
  tag?: { key: string; value: string }
  createdAfter?: Date
  createdBefore?: Date
  /** Id of the last email of the previous page (ids are time-ordered UUIDv7). */
  before?: string
  limit: number
}

export interface EmailSummaryRow {
  id: string
  status: EmailStatus
  from_header: string
  to_header: string[]
  subject: string
  tags: Record<string, string>
  stream: string
  source: string
  scheduled_at: Date | null
  created_at: Date
  updated_at: Date
}

async function listEmails(pool: Pool, f: ListFilter): Promise<EmailSummaryRow[]> {
  const where = ['e.account_id = $1']
  const params: unknown[] = [f.accountId]
  const add = (sql: (p: string) => string, value: unknown) => {
    params.push(value)
    where.push(sql(`$${params.length}`))
  }
  if (f.status) add((p) => `e.status = ${p}::"EmailStatus"`, f.status)
  if (f.before) add((p) => `e.id < ${p}::uuid`, f.before)
  // Ids are UUIDv7 minted at acceptance (created_at is the same instant): a time range is an id range.
  if (f.createdAfter) add((p) => `e.id >= ${p}::uuid`, uuidv7LowerBound(f.createdAfter))
  if (f.createdBefore) add((p) => `e.id < ${p}::uuid`, uuidv7LowerBound(f.createdBefore))
  if (f.tag) add((p) => `e.tags @> ${p}::jsonb`, JSON.stringify({ [f.tag.key]: f.tag.value }))
  if (f.recipient) {
    add((p) => `e.id IN (SELECT r.email_id FROM recipients r WHERE r.account_id = $1 AND r.address = ${p})`, f.recipient)
  }
  if (f.recipientStatus) {
    add((p) => `EXISTS (SELECT 1 FROM recipients r WHERE r.email_id = e.id AND r.status = ${p}::"RecipientStatus")`, f.recipientStatus)
  }
  params.push(f.limit)
  const { rows } = await pool.query<EmailSummaryRow>(
    `SELECT e.id, e.status, e.from_header, e.to_header, e.subject, e.tags, e.stream, e.source, e.scheduled_at,
            e.created_at, e.updated_at
       FROM emails e WHERE ${where.join(' AND ')} ORDER BY e.id DESC LIMIT $${params.length}`,
    params,
  )
  return rows
}

/** An email's detail as the API shows it: no body, no attachment content, the latest attempts. */
export interface EmailDetail {
  id: string
  status: EmailStatus
  source: string
  fromHeader: string
  toHeader: string[]
  ccHeader: string[]
  replyTo: string[]
  subject: string
  headers: Record<string, string>
  tags: Record<string, string>
  stream: string
  messageId: string
  sizeBytes: number
  scheduledAt: Date | null
  expiresAt: Date
  createdAt: Date
  updatedAt: Date
  attachments: Array<{ filename: string; contentType: string; contentId: string | null; size: number }>
  recipients: RecipientDetail[]
}

export interface RecipientDetail {
  id: string
  address: string
  kind: RecipientKind
  status: RecipientStatus
  reason: string | null
  attemptCount: number
  nextAttemptAt: Date | null
  lastCode: number | null
  lastEnhancedCode: string | null
  lastReply: string | null
  possibleDuplicate: boolean
  bounceCategory: string | null
  updatedAt: Date
  /** The latest attempts (at most the limit asked for), oldest first. */
  attempts: AttemptDetail[]
  /** Every attempt row the recipient has, shown or not. */
  attemptsTotal: number
}

export interface AttemptDetail {
  id: string
  recipientId: string
  number: number
  startedAt: Date
  finishedAt: Date | null
  outcome: string | null
  phase: string | null
  remoteHost: string | null
  remoteIp: string | null
  smtpCode: number | null
  enhancedCode: string | null
  reply: string | null
  tlsVersion: string | null
  tlsCipher: string | null
  durationMs: number | null
}

interface AttemptRow {
  id: string
  recipient_id: string
  number: number
  started_at: Date
  finished_at: Date | null
  outcome: string | null
  phase: string | null
  remote_host: string | null
  remote_ip: string | null
  smtp_code: number | null
  enhanced_code: string | null
  reply: string | null
  tls_version: string | null
  tls_cipher: string | null
  duration_ms: number | null
  total: number
}

/** The latest `perRecipient` attempts of each recipient of an email of an account, each row with its recipient's total. */
const LATEST_ATTEMPTS = `
SELECT id::text, recipient_id::text, number, started_at, finished_at, outcome::text, phase::text, remote_host, remote_ip,
       smtp_code, enhanced_code, reply, tls_version, tls_cipher, duration_ms, total::int
  FROM (SELECT a.*, row_number() OVER latest AS pos, count(*) OVER (PARTITION BY a.recipient_id) AS total
          FROM delivery_attempts a
         WHERE a.recipient_id IN (SELECT r.id FROM recipients r WHERE r.email_id = $1::uuid AND r.account_id = $3::uuid)
        WINDOW latest AS (PARTITION BY a.recipient_id ORDER BY a.number DESC, a.id DESC)) x
 WHERE pos <= $2::int
 ORDER BY recipient_id, number, id`

const attemptDetail = (a: AttemptRow): AttemptDetail => ({
  id: a.id,
  recipientId: a.recipient_id,
  number: a.number,
  startedAt: a.started_at,
  finishedAt: a.finished_at,
  outcome: a.outcome,
  phase: a.phase,
  remoteHost: a.remote_host,
  remoteIp: a.remote_ip,
  smtpCode: a.smtp_code,
  enhancedCode: a.enhanced_code,
  reply: a.reply,
  tlsVersion: a.tls_version,
  tlsCipher: a.tls_cipher,
  durationMs: a.duration_ms,
})

// The JSON columns hold what the accepting code wrote; these read them back without trusting a cast.
const stringList = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [])
const stringRecord = (value: unknown): Record<string, string> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
    ? Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'))
    : {}

/** Cancels what is not yet being sent; returns the recipients it cancelled. */
async function cancelRecipients(
  db: Queryable,
  accountId: string,
  emailId: string,
): Promise<Array<{ id: string; address: string; account_id: string }>> {
  const { rows } = await db.query<{ id: string; address: string; account_id: string }>(
    `UPDATE recipients SET status = 'cancelled', reason = NULL, next_attempt_at = NULL, updated_at = now()
      WHERE email_id = $1 AND account_id = $2 AND status IN ('scheduled', 'queued', 'deferred')
      RETURNING id, address, account_id`,
    [emailId, accountId],
  )
  return rows
}

/** An email and the account it belongs to. */
export interface EmailKey {
  id: string
  accountId: string
}

/** Which emails of a failed accept statement are committed; `final` when the others never will be. */
export interface CommitCheck {
  committed: Set<string>
  final: boolean
  /** The recipients of committed emails that were written as suppressed, with their reasons. */
  suppressed?: Map<string, string>
}

/** How long the settling of a failed accept waits for the failed statement's backend to exit. */
export const BACKEND_EXIT_WAIT_MS = 5_000

/**
 * The advisory-lock expression guarding one (account, key) while its request is in flight; a
 * second request that cannot take it is answered 409 instead of waiting.
 */
export const IDEMPOTENCY_LOCK_SQL = "pg_try_advisory_xact_lock(hashtextextended($1::text || ':' || $2::text, 0))"

/** The key's record was written by another request between the lookup and the insert. */
class KeyTaken extends Error {}

/** What became of a send that carried an Idempotency-Key. */
export type IdempotentOutcome =
  | { kind: 'accepted' }
  /** The key was used before with the same request: its stored answer. */
  | { kind: 'replayed'; body: Accepted }
  /** The key was used before with a different request; nothing was written. */
  | { kind: 'mismatch' }
  /** Another request with the key holds its lock right now; nothing was written. */
  | { kind: 'in_progress' }

/**
 * Emails, their recipients and what the API reads of them. Every method that must be atomic is
 * one method here (one statement or one transaction); a database that cannot be reached
 * surfaces as `unavailable`.
 */
export function createEmailRepository({ pool, prisma }: RepositoryDeps) {
  return guardRepository({
    /**
     * Commits accepted messages, everything they add, in one statement (one commit), the
     * recipients on the suppression list written as suppressed and marked so in `batch`. When the
     * database becomes unavailable meanwhile it fails with a `StatementFailure` naming the
     * backend that ran the statement, for `committedAfter`.
     */
    async insert(batch: NewEmailRows[]): Promise<void> {
      await onPooledConnection(pool, (client) => insertEmails(client, batch))
    },

    /**
     * After `insert` failed with the database unavailable: which of its emails are committed,
     * and whether that answer is final. A commit still in progress (waiting for a synchronous
     * standby or a stalled disk, or a statement still running after the client gave up) is
     * invisible to other sessions but may yet complete, so the statement's own backend is
     * ended first, from a fresh connection, and waited for (at most `BACKEND_EXIT_WAIT_MS`):
     * once it has exited, what is not committed never will be. When it cannot be seen to exit,
     * the ids found are still committed, but the others are not known to be lost.
     */
    async committedAfter(failure: unknown, emails: EmailKey[]): Promise<CommitCheck> {
      if (failure instanceof StatementFailure && !failure.sent) return { committed: new Set(), final: true }
      const pid = failure instanceof StatementFailure ? failure.backendPid : undefined
      return withFreshConnection(pool, async (client) => {
        const final = pid !== undefined && (await endBackend(client, pid, BACKEND_EXIT_WAIT_MS).catch(() => false))
        const { rows } = await client.query<{ id: string }>(
          `SELECT e.id FROM emails e
             JOIN unnest($1::uuid[], $2::uuid[]) AS k(id, account_id) ON e.id = k.id AND e.account_id = k.account_id`,
          [emails.map((e) => e.id), emails.map((e) => e.accountId)],
        )
        const committed = new Set(rows.map((row) => row.id))
        // What the statement wrote as suppressed, which its lost answer would have said. Only for
        // the answer's `suppressed` list: when this cannot be read, the callers are still told
        // their messages were accepted (the list then misses them; the stored rows are right).
        const suppressed = await client
          .query<{ id: string; reason: string }>(
            `SELECT id, reason FROM recipients WHERE email_id = ANY($1::uuid[]) AND status = 'suppressed'`,
            [[...committed]],
          )
          .then(
            (found) => new Map(found.rows.map((row) => [row.id, row.reason])),
            () => undefined,
          )
        return { committed, final, suppressed }
      })
    },

    /**
     * The live record of an Idempotency-Key (any request kind), looked up before a send is
     * prepared: a retry is answered from it even when what the send named (a template, a
     * campaign) has changed since. The transaction that accepts still decides races.
     */
    async findIdempotent(accountId: string, key: string): Promise<{ fingerprint: string; body: unknown } | undefined> {
      const { rows } = await pool.query<{ fingerprint: string; response_body: unknown }>(
        'SELECT fingerprint, response_body FROM idempotency_records WHERE account_id = $1 AND key = $2 AND expires_at > now()',
        [accountId, key],
      )
      const row = rows[0]
      // A batch item's key is claimed before its answer is written: an empty answer is not one yet.
      if (!row || (typeof row.response_body === 'object' && row.response_body !== null && Object.keys(row.response_body).length === 0)) {
        return undefined
      }
      return { fingerprint: row.fingerprint, body: row.response_body }
    },

    /**
     * Accepts one message under an Idempotency-Key, in one transaction: the key's lock, the
     * lookup of an earlier use, and the message with the key's record (kept 24 h).
     */
    async submitIdempotent(rows: NewEmailRows, accountId: string, key: string, fingerprint: string): Promise<IdempotentOutcome> {
      return withTransaction(pool, async (client): Promise<IdempotentOutcome> => {
        const { rows: lock } = await client.query<{ locked: boolean }>(`SELECT ${IDEMPOTENCY_LOCK_SQL} AS locked`, [accountId, key])
        if (!lock[0]?.locked) return { kind: 'in_progress' }
        const { rows: found } = await client.query<{ fingerprint: string; response_body: Accepted }>(
          'SELECT fingerprint, response_body FROM idempotency_records WHERE account_id = $1 AND key = $2 AND expires_at > now()',
          [accountId, key],
        )
        const stored = found[0]
        if (stored) return stored.fingerprint === fingerprint ? { kind: 'replayed', body: stored.response_body } : { kind: 'mismatch' }
        await insertEmails(client, [rows])
        const body: Accepted = acceptedBody(rows)
        // Only an expired record is replaced: a batch item that claimed the same key meanwhile (it
        // takes no advisory lock) keeps it, and this message is rolled back as still in progress.
        const { rowCount } = await client.query(
          `INSERT INTO idempotency_records AS i (account_id, key, fingerprint, response_status, response_body, email_id, expires_at)
           VALUES ($1, $2, $3, 202, $4, $5, now() + $6 * interval '1 millisecond')
           ON CONFLICT (account_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, response_status = 202,
             response_body = EXCLUDED.response_body, email_id = EXCLUDED.email_id, created_at = now(), expires_at = EXCLUDED.expires_at
           WHERE i.expires_at <= now()`,
          [accountId, key, fingerprint, JSON.stringify(body), rows.email.id, IDEMPOTENCY_TTL_MS],
        )
        if (!rowCount) throw new KeyTaken()
        return { kind: 'accepted' }
      }).catch((err: unknown) => {
        if (err instanceof KeyTaken) return { kind: 'in_progress' } as const
        throw err
      })
    },

    /** One email of the account with its recipients and their latest attempts; undefined when it has no such email. */
    async find(accountId: string, id: string, attemptsPerRecipient: number): Promise<EmailDetail | undefined> {
      // One snapshot for the email, its recipients and their attempts: read apart, a commit falling
      // between the reads showed a finished attempt beside the status from before it.
      const read = await prisma.$transaction(
        async (tx) => {
          const email = await tx.email.findFirst({
            where: { id, accountId },
            omit: { raw: true, text: true, html: true },
            include: {
              recipients: { orderBy: { id: 'asc' } },
              attachments: { orderBy: { position: 'asc' }, omit: { content: true } },
            },
          })
          if (!email) return undefined
          const rows = await tx.$queryRawUnsafe<AttemptRow[]>(LATEST_ATTEMPTS, id, attemptsPerRecipient, accountId)
          return { email, rows }
        },
        { isolationLevel: 'RepeatableRead' },
      )
      if (!read) return undefined
      const { email, rows } = read
      const byRecipient = new Map<string, AttemptRow[]>()
      for (const row of rows) byRecipient.set(row.recipient_id, [...(byRecipient.get(row.recipient_id) ?? []), row])
      return {
        id: email.id,
        status: email.status,
        source: email.source,
        fromHeader: email.fromHeader,
        toHeader: stringList(email.toHeader),
        ccHeader: stringList(email.ccHeader),
        replyTo: stringList(email.replyTo),
        subject: email.subject,
        headers: stringRecord(email.headers),
        tags: stringRecord(email.tags),
        stream: email.stream,
        messageId: email.messageId,
        sizeBytes: email.sizeBytes,
        scheduledAt: email.scheduledAt,
        expiresAt: email.expiresAt,
        createdAt: email.createdAt,
        updatedAt: email.updatedAt,
        attachments: email.attachments.map((a) => ({
          filename: a.filename,
          contentType: a.contentType,
          contentId: a.contentId,
          size: a.size,
        })),
        recipients: email.recipients.map((r) => {
          const attempts = byRecipient.get(r.id) ?? []
          return {
            id: r.id,
            address: r.address,
            kind: r.kind,
            status: r.status,
            reason: r.reason,
            attemptCount: r.attemptCount,
            nextAttemptAt: r.nextAttemptAt,
            lastCode: r.lastCode,
            lastEnhancedCode: r.lastEnhancedCode,
            lastReply: r.lastReply,
            possibleDuplicate: r.possibleDuplicate,
            bounceCategory: r.bounceCategory,
            updatedAt: r.updatedAt,
            attempts: attempts.map(attemptDetail),
            attemptsTotal: attempts[0]?.total ?? 0,
          }
        }),
      }
    },

    /** Newest first, filtered; see ListFilter. */
    list: (filter: ListFilter): Promise<EmailSummaryRow[]> => listEmails(pool, filter),

    async exists(accountId: string, id: string): Promise<boolean> {
      return (await prisma.email.count({ where: { id, accountId } })) > 0
    },

    /** Events of an email of the account (none when it has no such email), oldest first, after a cursor. */
    events: (accountId: string, emailId: string, after: string | undefined, limit: number) =>
      listEmailEvents(pool, accountId, emailId, after, limit),

    /**
     * Cancels the recipients not yet being sent, with an event each and the email's status
     * refreshed, in one transaction; undefined when the account has no such email.
     */
    async cancel(accountId: string, emailId: string): Promise<{ cancelled: number; status: EmailStatus } | undefined> {
      return withTransaction(pool, async (client) => {
        // No row lock here: recipients are locked first and the email last, in the order every
        // writer (claim, outcome, sweeper) uses, so cancel cannot deadlock with them.
        const { rows } = await client.query<{ id: string }>('SELECT id FROM emails WHERE id = $1 AND account_id = $2', [emailId, accountId])
        if (rows.length === 0) return undefined
        const cancelled = await cancelRecipients(client, accountId, emailId)
        await insertEvents(
          client,
          cancelled.map((r) => ({
            id: uuidv7(),
            accountId: r.account_id,
            emailId,
            recipientId: r.id,
            recipient: r.address,
            type: 'email.cancelled',
            data: {},
          })),
        )
        await refreshEmailStatuses(client, [emailId])
        const { rows: after } = await client.query<{ status: EmailStatus }>('SELECT status FROM emails WHERE id = $1 AND account_id = $2', [
          emailId,
          accountId,
        ])
        const status = after[0]?.status
        if (!status) throw new Error(`email ${emailId} vanished while being cancelled`)
        return { cancelled: cancelled.length, status }
      })
    },
  })
}

export type EmailRepository = ReturnType<typeof createEmailRepository>
