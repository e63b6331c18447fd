import { type PoolClient, withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { uuidv7 } from '../../lib/uuid.js'
import { SQL_UUIDV7 } from '../delivery/delivery.repository.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import { eventsJson, insertEventsSql } from '../events/event.repository.js'
import { suppressionRowsJson, suppressionUpsertSql } from '../suppressions/suppression.repository.js'
import { type Effect, mustWait, planReport, type ReportTarget, type ReportWrites } from './feedback.plan.js'

export type { Effect, ReportTarget } from './feedback.plan.js'

interface TargetRow {
  id: string
  delivery_id: string | null
  email_id: string
  account_id: string
  address: string
  status: string
  stream: string
  recipient_count?: number
}

const toTarget = (r: TargetRow): ReportTarget => ({
  id: r.id,
  emailId: r.email_id,
  accountId: r.account_id,
  address: r.address,
  status: r.status,
  stream: r.stream,
})

export interface StoredReport {
  kind: 'dsn' | 'arf' | 'unrecognized'
  mailFrom: string
  rcptTo: string
  summary: Record<string, unknown>
  raw: Buffer
  truncated: boolean
}

/**
 * A report to store. Its candidates are the recipients of the deliveries it came back through
 * (and `targets`, found otherwise); `build` says what the report is and does, given the
 * candidates as they are under their locks.
 */
export interface ReportToApply {
  deliveryIds: string[]
  targets: ReportTarget[]
  raw: Buffer
  build(candidates: ReportTarget[]): { report: StoredReport; effects: Effect[] }
}

/**
 * What became of one report of a batch: stored (with the recipients it matched and the events it
 * added), or to be brought again later.
 */
export type Applied = { id: string; matched: number; applied: number } | { wait: true }

/** The raw report is kept up to this size: enough for any DSN's status part and the returned headers. */
export const MAX_STORED_REPORT_BYTES = 256 * 1024
/** A report that matched nothing is kept shorter: anyone may send one. */
export const MAX_UNMATCHED_REPORT_BYTES = 16 * 1024

/** Statuses of recipients still to be sent: a report is never about them. */
const UNSENT = `'queued', 'deferred', 'scheduled'`

const TARGETS = `SELECT r.id, r.delivery_id, r.email_id, r.account_id, r.address, r.status::text AS status, e.stream::text AS stream
  FROM recipients r JOIN emails e ON e.id = r.email_id`

/**
 * The candidates of a batch, and locks on those a report can change or must wait for. Recipients
 * still to be sent (queued, deferred, scheduled) are read but not locked: a report changes
 * nothing about them, and a lock would hold up (or deadlock with) the claim that takes them.
 * The locked ones are locked in id order, each with its status as it is under the lock. With
 * each, how many recipients its email has: an email of one has that recipient's status.
 */
const CANDIDATES_SQL = `WITH c AS (
  SELECT r.id, r.delivery_id, r.email_id, r.account_id, r.address, r.status::text AS status, e.stream::text AS stream
    FROM recipients r JOIN emails e ON e.id = r.email_id
   WHERE r.delivery_id = ANY($1::uuid[]) OR r.id = ANY($2::uuid[])
), l AS MATERIALIZED (
  SELECT r.id, r.status::text AS status FROM recipients r
   WHERE (r.delivery_id = ANY($1::uuid[]) OR r.id = ANY($2::uuid[])) AND r.status NOT IN (${UNSENT})
   ORDER BY r.id FOR UPDATE
), n AS (
  SELECT email_id, count(*)::int AS recipient_count FROM recipients
   WHERE email_id = ANY(ARRAY(SELECT DISTINCT email_id FROM c)) GROUP BY email_id
)
SELECT c.id, c.delivery_id, c.email_id, c.account_id, c.address, coalesce(l.status, c.status) AS status, c.stream, n.recipient_count
  FROM c LEFT JOIN l ON l.id = c.id JOIN n ON n.email_id = c.email_id
 ORDER BY c.id`

/** Columns of `inbound_reports` one report fills, in the order of its VALUES. */
const REPORT_COLUMNS = ['id', 'account_id', 'kind', 'email_id', 'recipient_id', 'mail_from', 'rcpt_to', 'summary', 'raw', 'truncated']

function reportValues(id: string, report: StoredReport, effects: Effect[]): unknown[] {
  const first = effects[0]?.target
  const keep = effects.length > 0 ? MAX_STORED_REPORT_BYTES : MAX_UNMATCHED_REPORT_BYTES
  return [
    id,
    first?.accountId ?? null,
    report.kind,
    first?.emailId ?? null,
    first?.id ?? null,
    report.mailFrom,
    report.rcptTo,
    JSON.stringify(report.summary),
    report.raw.subarray(0, keep),
    report.truncated || report.raw.length > keep,
  ]
}

export function createFeedbackRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    async isReturnPathDomain(domain: string): Promise<boolean> {
      const { rows } = await pool.query('SELECT 1 FROM domains WHERE return_path_domain = $1 LIMIT 1', [domain])
      return rows.length > 0
    },

    /** The recipients of the email with this id and Message-ID (both must match). */
    async recipientsOfEmail(emailId: string, messageId: string): Promise<ReportTarget[]> {
      const { rows } = await pool.query<TargetRow>(`${TARGETS} WHERE r.email_id = $1 AND e.message_id = $2`, [emailId, messageId])
      return rows.map(toTarget)
    },

    /**
     * Stores reports and applies their effects, many reports in one transaction (reports arrive
     * on many connections at once; one commit for each would cost more than the rest of their
     * work). The recipients are locked in id order, as every writer of recipients does, and read
     * under the lock; each report is then planned in turn (`planReport`), so that two reports of
     * one batch about the same recipient act as if each had its own transaction. A report about a
     * recipient still `sending` is not stored and comes back as `wait`.
     */
    async applyMany(items: ReportToApply[]): Promise<Applied[]> {
      return withTransaction(pool, async (client) => {
        const deliveryIds = [...new Set(items.flatMap((i) => i.deliveryIds))]
        const targetIds = [...new Set(items.flatMap((i) => i.targets.map((t) => t.id)))]
        const { rows: locked } =
          deliveryIds.length + targetIds.length === 0
            ? { rows: [] }
            : await client.query<TargetRow>(CANDIDATES_SQL, [deliveryIds, targetIds])
        const byId = new Map(locked.map((r) => [r.id, toTarget(r)]))
        const recipientCount = new Map(locked.map((r) => [r.email_id, r.recipient_count ?? 0]))
        const statusOf = new Map(locked.map((r) => [r.id, r.status]))
        const byDelivery = new Map<string, ReportTarget[]>()
        for (const r of locked) {
          const list = byDelivery.get(r.delivery_id ?? '') ?? []
          list.push(byId.get(r.id) as ReportTarget)
          byDelivery.set(r.delivery_id ?? '', list)
        }
        const built = items.map((item) => {
          const candidates = new Map<string, ReportTarget>()
          for (const id of item.deliveryIds) for (const t of byDelivery.get(id) ?? []) candidates.set(t.id, t)
          for (const t of item.targets) {
            const fresh = byId.get(t.id)
            if (fresh) candidates.set(t.id, fresh)
          }
          return item.build([...candidates.values()])
        })
        const waits = built.map((b) => mustWait(b.effects, statusOf))

        const complaints = built.flatMap((b, n) => (waits[n] ? [] : b.effects.filter((e) => e.kind === 'complaint')))
        // Through the (email_id, id) index: events has none on recipient_id (every insert would pay for it).
        const { rows: complainedRows } =
          complaints.length === 0
            ? { rows: [] }
            : await client.query<{ recipient_id: string }>(
                `SELECT DISTINCT recipient_id FROM events
                  WHERE email_id = ANY($1::uuid[]) AND recipient_id = ANY($2::uuid[]) AND type = 'email.complained'`,
                [[...new Set(complaints.map((e) => e.target.emailId))], complaints.map((e) => e.target.id)],
              )
        const complained = new Set(complainedRows.map((r) => r.recipient_id))

        const results: Applied[] = []
        const values: unknown[] = []
        const all: ReportWrites = { events: [], bounced: [], suppress: [] }
        for (const [n, { report, effects }] of built.entries()) {
          if (waits[n]) {
            results.push({ wait: true })
            continue
          }
          const id = uuidv7()
          const writes = planReport(id, effects, statusOf, complained)
          all.events.push(...writes.events)
          all.bounced.push(...writes.bounced)
          all.suppress.push(...writes.suppress)
          values.push(...reportValues(id, report, effects))
          results.push({ id, matched: new Set(effects.map((e) => e.target.id)).size, applied: writes.events.length })
        }
        if (values.length === 0) return results

        await writeAll(client, values, all, recipientCount)
        return results
      })
    },
  })
}

export type FeedbackRepository = ReturnType<typeof createFeedbackRepository>

/**
 * Every write of a batch in one statement: the reports, the bounced recipients with their attempt
 * rows, the status of the emails of one recipient (theirs: its lock is held), the events and the
 * suppressions. Emails with several recipients are locked first (in id order) and have their
 * status computed from all of them after it: recipients, emails, suppressions is the order the
 * outcome write takes its locks in too.
 */
async function writeAll(client: PoolClient, values: unknown[], all: ReportWrites, recipientCount: Map<string, number>) {
  const emails = [...new Set(all.bounced.map((b) => b.emailId))]
  const several = emails.filter((id) => recipientCount.get(id) !== 1).sort()
  if (several.length > 0) await client.query('SELECT id FROM emails WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [several])
  const width = REPORT_COLUMNS.length
  const tuples = Array.from(
    { length: values.length / width },
    (_, r) => `(${REPORT_COLUMNS.map((_, c) => `$${r * width + c + 1}`).join(', ')})`,
  )
  const param = (n: number) => `$${values.length + n}`
  const single = emails.filter((id) => recipientCount.get(id) === 1)
  await client.query(
    `WITH reports AS (INSERT INTO inbound_reports (${REPORT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')} RETURNING 1),
     x AS (SELECT * FROM json_to_recordset(${param(1)}::json) AS x(id uuid, category text, code text, reply text, host text)),
     upd AS (
       UPDATE recipients r SET status = 'bounced', reason = 'bounced_after_delivery', bounce_category = x.category,
              last_enhanced_code = x.code, last_reply = x.reply, updated_at = now()
         FROM x WHERE r.id = x.id
       RETURNING r.id, r.email_id, r.attempt_count
     ),
     attempts AS (
       INSERT INTO delivery_attempts (id, recipient_id, email_id, number, finished_at, outcome, phase, enhanced_code, reply, remote_host, duration_ms)
       SELECT ${SQL_UUIDV7}, upd.id, upd.email_id, upd.attempt_count, now(), 'bounced', 'report', x.code, x.reply, x.host, 0
         FROM upd JOIN x ON x.id = upd.id
       RETURNING 1
     ),
     single AS (
       UPDATE emails SET status = 'bounced', updated_at = now()
        WHERE id = ANY(${param(2)}::uuid[]) AND status IS DISTINCT FROM 'bounced'
       RETURNING 1
     ),
     events AS (${insertEventsSql(param(3))} RETURNING 1),
     suppressed AS (${suppressionUpsertSql(param(4))})
     SELECT 1`,
    [
      ...values,
      JSON.stringify(all.bounced.map(({ emailId: _, ...row }) => row)),
      single,
      eventsJson(all.events),
      suppressionRowsJson(all.suppress),
    ],
  )
  if (several.length > 0) await refreshEmailStatuses(client, several)
}
