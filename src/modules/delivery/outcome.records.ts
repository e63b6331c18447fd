import { storableText } from '../../lib/text.js'
import type { EventData, EventType } from '../events/event.types.js'
import { type BounceCategory, bounceCategory } from '../feedback/bounce.classify.js'
import type { ClaimedRecipient, RecipientOutcome, RecordedOutcome, SessionInfo } from './delivery.types.js'
import type { ReplyClass } from './reply-rules.js'

const EVENT_BY_STATUS: Record<RecordedOutcome['status'], EventType> = {
  sent: 'email.sent',
  delivered: 'email.delivered',
  deferred: 'email.deferred',
  bounced: 'email.bounced',
  expired: 'email.expired',
  failed: 'email.failed',
}

export interface RecordOptions {
  /** When to try again; none means the message has run out of time (expired). */
  retryAt: Date | undefined
  /** The remote was the recipient's own MX: a 2xx is `delivered`, not `sent` (to a relay). */
  direct: boolean
  /** The destination asked us to slow down: the wait is a pause, not an ordinary retry. */
  throttled: boolean
}

/** Why a recipient waits: what the reply rule said, else a pause or an ordinary retry. */
function deferralReason(o: RecipientOutcome, throttled: boolean): string {
  if (o.relayUnavailable) return 'relay_unavailable'
  if (o.rule?.class === 'policy_block') return 'destination_blocked'
  if (o.rule?.class === 'sender_config') return 'sender_config'
  return throttled ? 'waiting_rate_limit' : 'waiting_retry'
}

/**
 * A bounce's category when a reply rule read it: only the address itself is a hard bounce (which
 * suppresses); the message, our configuration or our reputation are not the recipient's doing.
 */
function categoryOfRule(rule: ReplyClass | undefined): BounceCategory | undefined {
  if (!rule) return undefined
  if (rule === 'recipient') return 'hard'
  if (rule === 'recipient_temp' || rule === 'capacity' || rule === 'reconnect') return 'soft'
  return 'policy'
}

/** Text a remote server or a socket error gave us, as it may be stored (see storableText). */
const remote = (text: string | undefined): string | undefined => (text === undefined ? undefined : storableText(text))

/** One recipient's outcome of an attempt, as stored: status, reason, attempt row and event. */
export function toRecord(r: ClaimedRecipient, o: RecipientOutcome, session: SessionInfo, opts: RecordOptions): RecordedOutcome {
  const { retryAt } = opts
  const replyText = remote(o.reply?.text ?? o.error)
  const remoteHost = remote(session.remoteHost) as string
  let status: RecordedOutcome['status'] = o.status === 'deferred' && !retryAt ? 'expired' : o.status
  if (status === 'sent' && opts.direct) status = 'delivered'
  const reason = status === 'deferred' ? deferralReason(o, opts.throttled) : null
  const possibleDuplicate = o.possibleDuplicate || r.possibleDuplicate
  const category =
    status === 'bounced'
      ? (categoryOfRule(o.rule?.class) ?? bounceCategory({ status: o.reply?.enhanced, code: o.reply?.code, text: replyText }))
      : null
  const data: EventData = {
    attempt: r.attempt,
    smtp_code: o.reply?.code,
    enhanced_code: o.reply?.enhanced,
    reply: replyText,
    remote_host: remoteHost,
    remote_ip: session.remoteIp,
    tls_version: session.tlsVersion,
    duration_ms: session.durationMs,
    reason: reason ?? undefined,
    next_attempt_at: status === 'deferred' ? retryAt?.toISOString() : undefined,
    possible_duplicate: possibleDuplicate || undefined,
    bounce_category: category ?? undefined,
    async: category ? false : undefined,
    rule: o.rule?.id,
    rule_class: o.rule?.class,
  }
  return {
    recipientId: r.id,
    attemptId: r.attemptId,
    attempt: r.attempt,
    emailId: r.emailId,
    accountId: r.accountId,
    address: r.address,
    status,
    reason,
    nextAttemptAt: status === 'deferred' ? (retryAt ?? null) : null,
    phase: o.phase,
    smtpCode: o.reply?.code ?? null,
    enhancedCode: o.reply?.enhanced ?? null,
    reply: replyText ?? null,
    remoteHost,
    remoteIp: session.remoteIp ?? null,
    tlsVersion: session.tlsVersion ?? null,
    tlsCipher: session.tlsCipher ?? null,
    durationMs: session.durationMs,
    possibleDuplicate,
    bounceCategory: category,
    eventType: EVENT_BY_STATUS[status],
    // Drops the keys left undefined: events store only what applies.
    eventData: JSON.parse(JSON.stringify(data)),
    emailStatus: null,
  }
}
