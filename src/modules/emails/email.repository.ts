import type { Pool, PoolClient, PrismaClient } from '../../infra/db.js'
import { uuidv7LowerBound } from '../../lib/uuid.js'
import { eventRow } from '../events/event.repository.js'
import type { NewEvent } from '../events/event.types.js'
import { aggregateStatus } from './email.status.js'
import type { EmailStatus, RecipientStatus } from './email.types.js'

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
    next_attempt_at: string
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
const INSERT_EMAILS = `
WITH e AS (
  INSERT INTO emails (id, account_id, api_key_id, source, status, from_header, envelope_from, to_header, cc_header,
    reply_to, subject, text, html, headers, tags, stream, message_id, raw, size_bytes, scheduled_at, expires_at, created_at, updated_at)
  SELECT id, account_id, api_key_id, source, status, from_header, envelope_from, to_header, cc_header, reply_to, subject,
    text, html, headers, tags, stream, message_id, decode(raw, 'base64'), size_bytes, scheduled_at, expires_at, created_at, created_at
  FROM json_to_recordset($1::json) AS x(id uuid, account_id uuid, api_key_id uuid, source "EmailSource", status "EmailStatus",
    from_header text, envelope_from text, to_header jsonb, cc_header jsonb, reply_to jsonb, subject text, text text, html text,
    headers jsonb, tags jsonb, stream "EmailStream", message_id text, raw text, size_bytes int, scheduled_at timestamptz,
    expires_at timestamptz, created_at timestamptz)
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
  SELECT id, email_id, delivery_id, account_id, address, kind, status, reason, next_attempt_at
  FROM json_to_recordset($4::json) AS x(id uuid, email_id uuid, delivery_id uuid, account_id uuid, address text,
    kind "RecipientKind", status "RecipientStatus", reason text, next_attempt_at timestamptz)
  RETURNING 1
), ev AS (
  INSERT INTO events (id, account_id, email_id, recipient_id, recipient, type, data, created_at)
  SELECT id, account_id, email_id, recipient_id, recipient, type, data, created_at
  FROM json_to_recordset($5::json) AS x(id uuid, account_id uuid, email_id uuid, recipient_id uuid, recipient text,
    type text, data jsonb, created_at timestamptz)
  RETURNING 1
)
SELECT (SELECT count(*) FROM e) AS emails`

export async function insertEmails(db: Queryable, batch: NewEmailRows[]): Promise<void> {
  await db.query({
    text: INSERT_EMAILS,
    values: [
      JSON.stringify(batch.map((b) => b.email)),
      JSON.stringify(batch.flatMap((b) => b.attachments)),
      JSON.stringify(batch.flatMap((b) => b.deliveries)),
      JSON.stringify(batch.flatMap((b) => b.recipients)),
      JSON.stringify(batch.flatMap((b) => b.events.map((e) => ({ ...eventRow(e), created_at: b.email.created_at })))),
    ],
  })
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

export async function listEmails(pool: Pool, f: ListFilter): Promise<EmailSummaryRow[]> {
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

/** One email with recipients and attempts, or undefined when the account has no such email. */
export async function findEmail(prisma: PrismaClient, accountId: string, id: string) {
  return prisma.email.findFirst({
    where: { id, accountId },
    omit: { raw: true, text: true, html: true },
    include: {
      recipients: { orderBy: { id: 'asc' }, include: { attempts: { orderBy: [{ number: 'asc' }, { id: 'asc' }] } } },
      attachments: { orderBy: { position: 'asc' }, omit: { content: true } },
    },
  })
}

export type EmailDetail = NonNullable<Awaited<ReturnType<typeof findEmail>>>

/** Cancels what is not yet being sent; returns the recipients it cancelled. */
export async function cancelRecipients(
  db: Queryable,
  emailId: string,
): Promise<Array<{ id: string; address: string; account_id: string }>> {
  const { rows } = await db.query(
    `UPDATE recipients SET status = 'cancelled', reason = NULL, next_attempt_at = NULL, updated_at = now()
      WHERE email_id = $1 AND status IN ('scheduled', 'queued', 'deferred')
      RETURNING id, address, account_id`,
    [emailId],
  )
  return rows
}
