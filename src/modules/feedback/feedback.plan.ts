import { uuidv7 } from '../../lib/uuid.js'
import type { NewEvent } from '../events/event.types.js'
import type { NewSuppression } from '../suppressions/suppression.types.js'
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

/** How long a suppression from a report that any co-recipient could have forged lasts. */
export const UNCORROBORATED_SUPPRESSION_MS = 30 * 24 * 3_600_000

/** A recipient a report turns from sent or delivered into `bounced`. */
export interface BounceRow {
  id: string
  category: BounceCategory
  code: string | null
  reply: string | null
  host: string | null
}

/** What one report writes besides itself. */
export interface ReportWrites {
  events: NewEvent[]
  bounced: Array<BounceRow & { emailId: string }>
  suppress: NewSuppression[]
}

/**
 * Whether the report must wait: it is about an attempt still being recorded (a relay's instant
 * DSN, a takeover), so the sender is answered with a temporary failure and brings it again.
 * Complaints do not wait: they change no status.
 */
export const mustWait = (effects: Effect[], statusOf: ReadonlyMap<string, string>): boolean =>
  effects.some((e) => e.kind !== 'complaint' && statusOf.get(e.target.id) === 'sending')

/**
 * The writes of one report, given the recipients' statuses under their locks and who has already
 * complained. Both are updated as the report's effects are planned, so that reports planned one
 * after the other in one transaction act as if each had its own: a bounce counts once (only a
 * sent or delivered recipient bounces), a complaint once per recipient. Hard bounces and
 * complaints suppress the address for the whole account: a dead mailbox is dead for every stream,
 * and a complainer wants no mail at all.
 */
export function planReport(
  reportId: string,
  effects: Effect[],
  statusOf: Map<string, string>,
  complained: Set<string>,
  now = Date.now(),
): ReportWrites {
  const writes: ReportWrites = { events: [], bounced: [], suppress: [] }
  const event = (e: Effect, type: NewEvent['type'], data: NewEvent['data']) =>
    writes.events.push({
      id: uuidv7(now),
      accountId: e.target.accountId,
      emailId: e.target.emailId,
      recipientId: e.target.id,
      recipient: e.target.address,
      type,
      data,
    })
  const suppress = (e: Effect, reason: 'hard_bounce' | 'complaint') =>
    writes.suppress.push({
      accountId: e.target.accountId,
      address: e.target.address,
      stream: null,
      reason,
      source: { email_id: e.target.emailId, recipient_id: e.target.id, report_id: reportId },
      expiresAt: e.shared ? new Date(now + UNCORROBORATED_SUPPRESSION_MS) : null,
    })
  for (const e of effects) {
    const status = statusOf.get(e.target.id)
    const sentOrDelivered = status === 'sent' || status === 'delivered'
    if (e.kind === 'bounce' && sentOrDelivered) {
      statusOf.set(e.target.id, 'bounced')
      writes.bounced.push({
        id: e.target.id,
        emailId: e.target.emailId,
        category: e.category,
        code: e.status ?? null,
        reply: e.diagnostic ?? null,
        host: e.remoteMta ?? null,
      })
      event(e, 'email.bounced', {
        reason: 'bounced_after_delivery',
        bounce_category: e.category,
        async: true,
        ...(e.status ? { enhanced_code: e.status } : {}),
        ...(e.diagnostic ? { reply: e.diagnostic } : {}),
        ...(e.remoteMta ? { remote_host: e.remoteMta } : {}),
        report_id: reportId,
      })
      if (e.category === 'hard') suppress(e, 'hard_bounce')
    } else if (e.kind === 'delay' && sentOrDelivered) {
      event(e, 'email.deferred', {
        async: true,
        ...(e.status ? { enhanced_code: e.status } : {}),
        ...(e.diagnostic ? { reply: e.diagnostic } : {}),
        report_id: reportId,
      })
    } else if (e.kind === 'complaint' && !complained.has(e.target.id)) {
      complained.add(e.target.id)
      event(e, 'email.complained', {
        feedback_type: e.feedbackType,
        ...(e.userAgent ? { user_agent: e.userAgent } : {}),
        report_id: reportId,
      })
      suppress(e, 'complaint')
    }
  }
  return writes
}
