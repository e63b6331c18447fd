import type { RecipientOutcome, SmtpPhase, SmtpReply, TransactionResult } from './delivery.types.js'
import { BUILT_IN_RULES, matchReply, PAUSING, type ReplyRule } from './reply-rules.js'

const ENHANCED_RE = /^([245])\.(\d{1,3})\.(\d{1,3})\b/
const REPLY_RE = /^(\d{3})(?:[ -](.*))?$/s

/** Parses `550 5.1.1 User unknown` (multi-line replies keep their text) into code and parts. */
export function parseReply(raw: string): SmtpReply | undefined {
  const lines = raw.trim().split(/\r?\n/)
  const first = REPLY_RE.exec(lines[0] ?? '')
  if (!first) return undefined
  const code = Number(first[1])
  // Continuation lines repeat the code, and some servers (Gmail) the enhanced code too.
  const text = lines
    .map((line, i) => {
      const rest = line.replace(/^\d{3}[ -]?/, '')
      return i === 0 ? rest : rest.replace(/^[245]\.\d{1,3}\.\d{1,3}\s+/, '')
    })
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim()
  const enhanced = ENHANCED_RE.exec(text)
  // An enhanced code counts only when its class agrees with the basic code (RFC 3463 §2).
  if (enhanced && enhanced[1] === String(code)[0]) {
    return { code, enhanced: `${enhanced[1]}.${enhanced[2]}.${enhanced[3]}`, text: text.slice(enhanced[0].length).trim() }
  }
  return { code, text }
}

/** A reply that asks any destination to slow down: what the generic rules of the table call `capacity`. */
export const isThrottling = (reply: SmtpReply | undefined): boolean =>
  !!reply && matchReply(BUILT_IN_RULES, reply, undefined, 'mail')?.class === 'capacity'

// 5.3.4 "message too big for system": the message itself cannot go this way — a local failure,
// not a statement about the recipient.
const isTooBig = (reply: SmtpReply): boolean =>
  reply.enhanced === '5.3.4' || (reply.code === 552 && /size|too (big|large)/i.test(reply.text))

/** Who sent the replies: the destination's shaping profile, and the rules to read them by. */
export interface ReplyContext {
  provider?: string
  rules?: readonly ReplyRule[]
}

function fromReply(reply: SmtpReply, phase: SmtpPhase | 'done', context: ReplyContext): RecipientOutcome {
  const rule = matchReply(context.rules ?? BUILT_IN_RULES, reply, context.provider, phase)
  // A reply about one recipient (a busy mailbox, greylisting) says nothing about the destination;
  // only session-level replies slow it down — except a 421, which closes the session anyway.
  // (A block refused to every recipient at RCPT is session-wide too: see classifyTransaction.)
  const sessionWide = phase !== 'rcpt' || reply.code === 421
  const throttled = sessionWide && !!rule && rule.scope === 'destination' && PAUSING.has(rule.class)
  const base = { phase, reply, possibleDuplicate: false, relayUnavailable: false, throttled, ...(rule ? { rule } : {}) }
  if (reply.code >= 200 && reply.code < 300) return { ...base, status: 'sent' }
  // A block on our IP or domain is not the recipient's fault: the mail waits for the block to lift.
  // Nor is a refusal at the greeting about any recipient.
  if (rule?.class === 'policy_block' || phase === 'greeting' || phase === 'connect') return { ...base, status: 'deferred' }
  if (reply.code >= 500) return { ...base, status: isTooBig(reply) ? 'failed' : 'bounced' }
  return { ...base, status: 'deferred' }
}

const deferred = (phase: SmtpPhase, extra: Partial<RecipientOutcome> = {}): RecipientOutcome => ({
  status: 'deferred',
  phase,
  possibleDuplicate: false,
  relayUnavailable: false,
  throttled: false,
  ...extra,
})

/**
 * Maps one transaction to an outcome per recipient (docs/architecture.md §4, C5): a 5xx to RCPT bounces that
 * recipient; a 5xx to MAIL or DATA bounces all; any 4xx, timeout or broken connection defers; a
 * connection lost after the final dot defers and flags a possible duplicate; our own relay
 * refusing us (AUTH, TLS) defers as `relay_unavailable` and never bounces.
 */
export function classifyTransaction(
  result: TransactionResult,
  recipients: readonly string[],
  context: ReplyContext = {},
): Map<string, RecipientOutcome> {
  const outcomes = new Map<string, RecipientOutcome>()
  let accepted: RecipientOutcome | undefined
  for (const address of recipients) {
    const rejection = result.rejected.get(address)
    if (rejection) outcomes.set(address, fromReply(rejection, 'rcpt', context))
    else {
      accepted ??= classifyAccepted(result, context)
      outcomes.set(address, { ...accepted })
    }
  }
  // Every recipient refused at RCPT for a block on our IP (Microsoft's banned IP comes at RCPT):
  // that is the destination refusing us, not one mailbox.
  const all = [...outcomes.values()]
  if (all.length > 0 && all.every((o) => o.phase === 'rcpt' && o.rule?.class === 'policy_block' && o.rule.scope === 'destination')) {
    for (const o of all) o.throttled = true
  }
  return outcomes
}

function classifyAccepted(result: TransactionResult, context: ReplyContext): RecipientOutcome {
  if (result.ok) return fromReply(result.dataReply, 'done', context)
  const { phase, reply } = result
  if ((phase === 'auth' || phase === 'tls') && result.ourSide) {
    return deferred(phase, { reply, relayUnavailable: true, error: result.message })
  }
  // An MX that resolves only to addresses we refuse to connect to, or a message we cannot build
  // or sign (ELOCAL): no retry will change that.
  if (result.errorCode === 'EPRIVATE' || result.errorCode === 'ELOCAL') {
    return { ...deferred(phase, { reply, error: result.message }), status: 'failed' }
  }
  if (phase === 'after_data') {
    // RFC 5321 §3.8: treat as 451; the data may have been accepted (RFC 1047).
    return deferred(phase, { possibleDuplicate: true, error: result.message })
  }
  if (reply && (phase === 'mail' || phase === 'data' || phase === 'dns')) return fromReply(reply, phase, context)
  if (reply && reply.code >= 400 && reply.code < 500) return fromReply(reply, phase, context)
  // A refusal at the greeting (Yahoo's "[BL21] Connections will not be accepted"): read by the
  // rules, so that a block pauses the destination, but never a bounce.
  if (reply && (phase === 'greeting' || phase === 'connect')) return { ...fromReply(reply, phase, context), error: result.message }
  // Connection-level failures and odd replies: the server is unreachable or unwilling right now,
  // which says nothing permanent about the recipient.
  return deferred(phase, { reply, error: result.message, throttled: isThrottling(reply) })
}
