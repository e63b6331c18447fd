import { withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { unavailable } from '../../lib/errors.js'
import { uuidv7 } from '../../lib/uuid.js'
import { SQL_UUIDV7 } from '../delivery/delivery.repository.js'
import { refreshEmailStatuses } from '../emails/email.repository.js'
import { insertEvents } from '../events/event.repository.js'
import type { NewEvent } from '../events/event.types.js'
import { insertSuppressions } from '../suppressions/suppression.repository.js'
import type { BounceCategory } from './bounce.classify.js'

/** A recipient a report may be about. */
export interface ReportTarget {
  id: string
  emailId: string
  accountId: string
  address: string
  status: string
  stream: string
}

interface TargetRow {
  id: string
  email_id: string
  account_id: string
  address: string
  status: string
  stream: string
}

const toTarget = (r: TargetRow): ReportTarget => ({
  id: r.id,
  emailId: r.email_id,
  accountId: r.account_id,
  address: r.address,
  status: r.status,
  stream: r.stream,
})

/**
 * What a report does to one recipient. `shared`: the report came through a return path (or
 * Message-ID) shared with other recipients, any of whom could have written it; its suppression
 * then expires (UNCORROBORATED_SUPPRESSION_MS) instead of lasting for good.
 */
export type Effect = { target: ReportTarget; shared: boolean } & (
  | { kind: 'bounce'; category: BounceCategory; status?: string; diagnostic?: string; remoteMta?: string }
  | { kind: 'delay'; status?: string; diagnostic?: string; remoteMta?: string }
  | { kind: 'complaint'; feedbackType: string; userAgent?: string }
)

export interface StoredReport {
  kind: 'dsn' | 'arf' | 'unrecognized'
  mailFrom: string
  rcptTo: string
  summary: Record<string, unknown>
  raw: Buffer
  truncated: boolean
}

/** The raw report is kept up to this size: enough for any DSN's status part and the returned headers. */
export const MAX_STORED_REPORT_BYTES = 256 * 1024
/** A report that matched nothing is kept shorter: anyone may send one. */
export const MAX_UNMATCHED_REPORT_BYTES = 16 * 1024
/** How long a suppression from a report that any co-recipient could have forged lasts. */
export const UNCORROBORATED_SUPPRESSION_MS = 30 * 24 * 3_600_000

const TARGETS = `SELECT r.id, r.email_id, r.account_id, r.address, r.status::text AS status, e.stream::text AS stream
  FROM recipients r JOIN emails e ON e.id = r.email_id`

export function createFeedbackRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    /** The recipients one delivery (one SMTP transaction's worth) was sent to. */
    async recipientsOfDelivery(deliveryId: string): Promise<ReportTarget[]> {
      const { rows } = await pool.query<TargetRow>(`${TARGETS} WHERE r.delivery_id = $1`, [deliveryId])
      return rows.map(toTarget)
    },

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
     * Stores the report and applies its effects in one transaction. A bounce turns a recipient
     * that was sent or delivered into `bounced` (once: a report received twice changes nothing
     * the second time), with an attempt row so that its history shows both; a delay adds an event;
     * a complaint adds `email.complained` once per recipient. Hard bounces and complaints suppress
     * the address for the email's stream... of the whole account: a complainer wants no mail at all.
     */
    async apply(report: StoredReport, effects: Effect[]): Promise<{ id: string; applied: number }> {
      return withTransaction(pool, async (client) => {
        const id = uuidv7()
        const first = effects[0]?.target
        const keep = effects.length > 0 ? MAX_STORED_REPORT_BYTES : MAX_UNMATCHED_REPORT_BYTES
        await client.query(
          `INSERT INTO inbound_reports (id, account_id, kind, email_id, recipient_id, mail_from, rcpt_to, summary, raw, truncated)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
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
          ],
        )
        if (effects.length === 0) return { id, applied: 0 }

        const ids = [...new Set(effects.map((e) => e.target.id))].sort()
        // Locked in id order, as every writer of recipients does, and read again under the lock.
        const { rows: locked } = await client.query<{ id: string; status: string }>(
          'SELECT id, status::text AS status FROM recipients WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE',
          [ids],
        )
        const statusOf = new Map(locked.map((r) => [r.id, r.status]))
        // A report about an attempt still being recorded (a relay's instant DSN, a takeover):
        // answered with a temporary failure, so that the sender brings it again once it is.
        if (effects.some((e) => e.kind !== 'complaint' && statusOf.get(e.target.id) === 'sending')) {
          throw unavailable('A delivery this report is about is still being recorded; try again later', 60)
        }
        const complaints = effects.filter((e) => e.kind === 'complaint')
        // Through the (email_id, id) index: events has none on recipient_id (every insert would pay for it).
        const { rows: complained } =
          complaints.length === 0
            ? { rows: [] }
            : await client.query<{ recipient_id: string }>(
                `SELECT DISTINCT recipient_id FROM events
                  WHERE email_id = ANY($1::uuid[]) AND recipient_id = ANY($2::uuid[]) AND type = 'email.complained'`,
                [[...new Set(complaints.map((e) => e.target.emailId))], complaints.map((e) => e.target.id)],
              )
        const alreadyComplained = new Set(complained.map((r) => r.recipient_id))

        const events: NewEvent[] = []
        const bounced: Array<{ effect: Extract<Effect, { kind: 'bounce' }> }> = []
        const suppress: Parameters<typeof insertSuppressions>[1] = []
        const event = (e: Effect, type: NewEvent['type'], data: NewEvent['data']) =>
          events.push({
            id: uuidv7(),
            accountId: e.target.accountId,
            emailId: e.target.emailId,
            recipientId: e.target.id,
            recipient: e.target.address,
            type,
            data,
          })
        for (const e of effects) {
          const status = statusOf.get(e.target.id)
          const sentOrDelivered = status === 'sent' || status === 'delivered'
          if (e.kind === 'bounce' && sentOrDelivered) {
            statusOf.set(e.target.id, 'bounced')
            bounced.push({ effect: e })
            event(e, 'email.bounced', {
              reason: 'bounced_after_delivery',
              bounce_category: e.category,
              async: true,
              ...(e.status ? { enhanced_code: e.status } : {}),
              ...(e.diagnostic ? { reply: e.diagnostic } : {}),
              ...(e.remoteMta ? { remote_host: e.remoteMta } : {}),
              report_id: id,
            })
            if (e.category === 'hard') suppress.push(suppression(e, 'hard_bounce', id))
          } else if (e.kind === 'delay' && sentOrDelivered) {
            event(e, 'email.deferred', {
              async: true,
              ...(e.status ? { enhanced_code: e.status } : {}),
              ...(e.diagnostic ? { reply: e.diagnostic } : {}),
              report_id: id,
            })
          } else if (e.kind === 'complaint' && !alreadyComplained.has(e.target.id)) {
            alreadyComplained.add(e.target.id)
            event(e, 'email.complained', {
              feedback_type: e.feedbackType,
              ...(e.userAgent ? { user_agent: e.userAgent } : {}),
              report_id: id,
            })
            suppress.push(suppression(e, 'complaint', id))
          }
        }

        if (bounced.length > 0) {
          const rows = bounced.map(({ effect: e }) => ({
            id: e.target.id,
            category: e.category,
            code: e.status ?? null,
            reply: e.diagnostic ?? null,
            host: e.remoteMta ?? null,
          }))
          await client.query(
            `WITH x AS (SELECT * FROM json_to_recordset($1::json) AS x(id uuid, category text, code text, reply text, host text)),
             upd AS (
               UPDATE recipients r SET status = 'bounced', reason = 'bounced_after_delivery', bounce_category = x.category,
                      last_enhanced_code = x.code, last_reply = x.reply, updated_at = now()
                 FROM x WHERE r.id = x.id
               RETURNING r.id, r.email_id, r.attempt_count
             )
             INSERT INTO delivery_attempts (id, recipient_id, email_id, number, finished_at, outcome, phase, enhanced_code, reply, remote_host, duration_ms)
             SELECT ${SQL_UUIDV7}, upd.id, upd.email_id, upd.attempt_count, now(), 'bounced', 'report', x.code, x.reply, x.host, 0
               FROM upd JOIN x ON x.id = upd.id`,
            [JSON.stringify(rows)],
          )
          await refreshEmailStatuses(
            client,
            bounced.map((b) => b.effect.target.emailId),
          )
        }
        await insertEvents(client, events)
        if (suppress.length > 0) await insertSuppressions(client, suppress)
        return { id, applied: events.length }
      })
    },
  })
}

export type FeedbackRepository = ReturnType<typeof createFeedbackRepository>

const suppression = (e: Effect, reason: 'hard_bounce' | 'complaint', reportId: string) => ({
  accountId: e.target.accountId,
  address: e.target.address,
  // A complaint is about all mail from the sender; a dead mailbox is dead for every stream.
  stream: null,
  reason,
  source: { email_id: e.target.emailId, recipient_id: e.target.id, report_id: reportId },
  expiresAt: e.shared ? new Date(Date.now() + UNCORROBORATED_SUPPRESSION_MS) : null,
})
