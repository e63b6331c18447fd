import { storableText } from '../../lib/text.js'
import type { EventData, EventType } from '../events/event.types.js'
import { bounceCategory } from '../feedback/bounce.classify.js'
import type { ClaimedRecipient, RecipientOutcome, RecordedOutcome, SessionInfo } from './delivery.types.js'

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

/** Text a remote server or a socket error gave us, as it may be stored (see storableText). */
const remote = (text: string | undefined): string | undefined => (text === undefined ? undefined : storableText(text))

/** One recipient's outcome of an attempt, as stored: status, reason, attempt row and event. */
export function toRecord(r: ClaimedRecipient, o: RecipientOutcome, session: SessionInfo, opts: RecordOptions): RecordedOutcome {
  const { retryAt } = opts
  const replyText = remote(o.reply?.text ?? o.error)
  const remoteHost = remote(session.remoteHost) as string
  let status: RecordedOutcome['status'] = o.status === 'deferred' && !retryAt ? 'expired' : o.status
  if (status === 'sent' && opts.direct) status = 'delivered'
  const reason =
    status === 'deferred' ? (o.relayUnavailable ? 'relay_unavailable' : opts.throttled ? 'waiting_rate_limit' : 'waiting_retry') : null
  const possibleDuplicate = o.possibleDuplicate || r.possibleDuplicate
  const category = status === 'bounced' ? bounceCategory({ status: o.reply?.enhanced, code: o.reply?.code, text: replyText }) : null
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
