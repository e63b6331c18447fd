import { uuidv7 } from '../../lib/uuid.js'
import type { Principal } from '../api-keys/api-key.types.js'
import { CAMPAIGN_PAUSED } from '../campaigns/campaign.types.js'
import { RELAY_ROUTE } from '../delivery/route.js'
import type { NewEvent } from '../events/event.types.js'
import type { NewEmailRows } from './email.repository.js'
import { aggregateStatus } from './email.status.js'
import type { Accepted, EmailDraft } from './email.types.js'

/**
 * Recipients in one SMTP transaction at most: the least a server must accept (RFC 5321
 * §4.5.3.1.8), and what the Japanese carriers take (docomo refuses a transaction of 101 with
 * `554 Transaction failed`, and every recipient in it). A larger delivery is several transactions.
 */
export const MAX_RECIPIENTS_PER_TRANSACTION = 100

export interface RowOptions {
  /** The route of each recipient (`relay` or its domain); all relay when absent. */
  routeFor?: (address: string) => string
  maxDeliveryAgeMs: number
  now: Date
  source?: 'api' | 'smtp'
  /** The message exactly as submitted (SMTP ingress), relayed byte for byte. */
  raw?: Buffer
  messageId?: string
  /**
   * Recipients per delivery at most (MAX_RECIPIENTS_PER_TRANSACTION when absent). Broadcast mail
   * goes one recipient per transaction, so that each message carries its recipient's own
   * unsubscribe link.
   */
  perTransaction?: number
  /**
   * Its campaign is paused: the recipients are stored held (reason `campaign_paused`, next
   * attempt at the expiry) and get no job until the campaign resumes.
   */
  held?: boolean
}

/**
 * Turns a validated draft into the rows that accept it: the email, its attachments, one
 * delivery per route, one recipient row per envelope recipient, and an accept event for each.
 */
export function buildEmailRows(principal: Principal, draft: EmailDraft, options: RowOptions): NewEmailRows {
  const id = uuidv7(options.now.getTime())
  const startAt = draft.scheduledAt ?? options.now
  const status = draft.scheduledAt ? 'scheduled' : 'queued'
  const expiresAt = new Date(startAt.getTime() + options.maxDeliveryAgeMs).toISOString()

  // One delivery (one SMTP transaction) per route, of at most MAX_RECIPIENTS_PER_TRANSACTION.
  const deliveries: Array<{ id: string; email_id: string; route: string }> = []
  const open = new Map<string, { id: string; count: number }>()
  const recipients = draft.recipients.map((r) => {
    const route = options.routeFor?.(r.address) ?? RELAY_ROUTE
    let current = open.get(route)
    if (!current || current.count >= (options.perTransaction ?? MAX_RECIPIENTS_PER_TRANSACTION)) {
      current = { id: uuidv7(options.now.getTime()), count: 0 }
      open.set(route, current)
      deliveries.push({ id: current.id, email_id: id, route })
    }
    current.count++
    const deliveryId = current.id
    return {
      id: uuidv7(options.now.getTime()),
      email_id: id,
      delivery_id: deliveryId,
      account_id: principal.accountId,
      address: r.address,
      kind: r.kind,
      status,
      reason: options.held ? CAMPAIGN_PAUSED : status,
      next_attempt_at: options.held ? expiresAt : startAt.toISOString(),
    } as const
  })

  const events: NewEvent[] = recipients.map((r) => ({
    id: uuidv7(options.now.getTime()),
    accountId: principal.accountId,
    emailId: id,
    recipientId: r.id,
    recipient: r.address,
    type: draft.scheduledAt ? 'email.scheduled' : 'email.queued',
    data: draft.scheduledAt ? { next_attempt_at: startAt.toISOString() } : {},
  }))

  return {
    email: {
      id,
      account_id: principal.accountId,
      api_key_id: principal.apiKeyId,
      source: options.source ?? 'api',
      status,
      from_header: draft.fromHeader,
      envelope_from: draft.from.address,
      to_header: draft.toHeader,
      cc_header: draft.ccHeader,
      reply_to: draft.replyTo,
      subject: draft.subject,
      text: draft.text ?? null,
      html: draft.html ?? null,
      headers: draft.headers,
      tags: draft.tags,
      stream: draft.stream,
      message_id: options.messageId ?? `<${id}@${draft.from.domain}>`,
      raw: options.raw ? options.raw.toString('base64') : null,
      size_bytes: options.raw?.length ?? draft.sizeBytes,
      scheduled_at: draft.scheduledAt?.toISOString() ?? null,
      expires_at: expiresAt,
      created_at: options.now.toISOString(),
      campaign_id: draft.campaignId ?? null,
      template_id: draft.template?.id ?? null,
      template_version: draft.template?.version ?? null,
    },
    attachments: draft.attachments.map((a, position) => ({
      id: uuidv7(options.now.getTime()),
      email_id: id,
      position,
      filename: a.filename,
      content_type: a.contentType,
      content_id: a.contentId ?? null,
      content: a.content.toString('base64'),
      size: a.content.length,
    })),
    deliveries,
    recipients,
    events,
  }
}

/**
 * Marks the recipients the accepting statement wrote as suppressed (C8: never attempted), as it
 * wrote them: `suppressed` with the list's reason, no next attempt, an `email.suppressed` event
 * instead of the accept event, and the email's status recomputed (all suppressed →
 * `suppressed`). Changes `rows` in place, so that the caller's rows say what was committed.
 */
export function markSuppressed(rows: NewEmailRows, reasonOf: (recipientId: string) => string | undefined): void {
  let marked = false
  const eventOf = new Map(rows.events.map((e) => [e.recipientId, e]))
  for (const r of rows.recipients) {
    const reason = reasonOf(r.id)
    if (!reason) continue
    marked = true
    r.status = 'suppressed'
    r.reason = reason
    r.next_attempt_at = null
    const event = eventOf.get(r.id)
    if (event) {
      event.type = 'email.suppressed'
      event.data = { reason }
    }
  }
  if (marked) rows.email.status = aggregateStatus(rows.recipients.map((r) => r.status))
}

/** The answer to an accepted message: its id, status, and the recipients it will not be sent to. */
export const acceptedBody = (rows: NewEmailRows): Accepted => ({
  id: rows.email.id,
  status: rows.email.status,
  suppressed: rows.recipients.filter((r) => r.status === 'suppressed').map((r) => ({ address: r.address, reason: r.reason })),
})

/**
 * The deliveries that have a recipient to send to: one whose recipients are all suppressed (or
 * held by a paused campaign) gets no job.
 */
export const deliveriesToSend = (rows: NewEmailRows): NewEmailRows['deliveries'] => {
  const due = new Set(rows.recipients.filter((r) => r.status !== 'suppressed' && r.reason !== CAMPAIGN_PAUSED).map((r) => r.delivery_id))
  return rows.deliveries.filter((d) => due.has(d.id))
}
