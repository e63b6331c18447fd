/**
 * The category of a bounce (DESIGN.md §3): `hard` (the address or its domain does not exist, so
 * the recipient is suppressed), `soft` (temporary: full, rate-limited, deferred), `policy` (the
 * receiver refused *us*: blocklist, reputation, authentication, content; never suppresses the
 * recipient) and `unknown`. Decided by the enhanced status code (RFC 3463) when there is one, and
 * by the basic code and the reply text when there is not, or when the code is too generic
 * (x.0.0, 5.1.0, 5.2.0, 5.5.x) to say anything.
 *
 * Only `hard` suppresses, so ambiguous replies lean to `unknown` or `policy`: wrongly suppressing
 * a real subscriber is worse than sending to a dead address once more.
 */
export type BounceCategory = 'hard' | 'soft' | 'policy' | 'unknown'

export interface BounceInput {
  /** Enhanced status code, `5.1.1` (a DSN's Status field); anything after it is ignored. */
  status?: string
  /** Basic SMTP reply code, 550. */
  code?: number
  /** Reply or diagnostic text. */
  text?: string
}

// Only the start of a reply is read: provider texts put what matters first, and a bounded input
// keeps every check below linear in a small constant.
const MAX_TEXT = 2_000
const STATUS_RE = /^\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)/
// `550 5.1.1 …` or `550-5.1.1 …` at the start of a diagnostic that came without a Status field.
const REPLY_RE = /^\s*([245]\d\d)(?:[ -]+([245]\.\d{1,3}\.\d{1,3})(?!\d))?/

// Says plainly that the mailbox or its domain does not exist: hard even under 5.7.x.
const NO_SUCH_USER = [
  'user unknown',
  'unknown user',
  'unknown recipient',
  'no such user',
  'no such recipient',
  'no such mailbox',
  'does not exist',
  "doesn't exist",
  "doesn't have a", // Yahoo: "This user doesn't have a yahoo.com account"
  'user not found',
  'recipient not found',
  'mailbox not found',
  'address not found',
  'invalid recipient', // SoftBank: "550 Invalid recipient: <addr>"
  'invalid mailbox',
  'not a valid mailbox',
  'unrouteable address', // Exim
  'host or domain name not found',
  'domain not found',
  'null mx',
]
const POLICY = [
  'spam',
  'blocked',
  'block list',
  'blocklist',
  'blacklist',
  'denylist',
  'reputation',
  'policy',
  'banned',
  'access denied',
  'unauthenticated',
  'authentication',
  'dmarc',
  'spf',
  'dkim',
  'not authorized',
  'relay access denied',
  'relaying denied',
]
const TEMPORARY = [
  'quota',
  'storage',
  'too much mail data', // docomo: "552 Too much mail data" is a full mailbox
  'insufficient system storage',
  'too quickly',
  'at a rate',
  'rate limit',
  'greylist',
  'graylist',
  'try again',
  'temporar',
]
// Weaker signs that the mailbox is gone; checked after policy and temporary words, because RFC
// 5321's stock "mailbox unavailable" is also sent for policy refusals.
const GONE = ['mailbox unavailable', 'mailbox is disabled', 'account disabled', 'account is disabled', 'inactive', 'deactivated']
const FULL_RE = /\bfull\b/

const has = (text: string, words: readonly string[]): boolean => words.some((w) => text.includes(w))

/** Category from the reply text alone, or undefined when it says nothing recognisable. */
function fromText(text: string): BounceCategory | undefined {
  if (!text) return undefined
  if (has(text, NO_SUCH_USER)) return 'hard'
  if (has(text, POLICY)) return 'policy'
  if (has(text, TEMPORARY) || FULL_RE.test(text)) return 'soft'
  if (has(text, GONE)) return 'hard'
  return undefined
}

/** RFC 3463 meaning of a permanent (5.x.x) code; undefined where it is too generic to decide. */
function fromPermanent(subject: number, detail: number, text: string): BounceCategory | undefined {
  switch (subject) {
    case 1:
      // 5.1.1 bad mailbox, 5.1.2 bad domain, 5.1.3 bad mailbox syntax, 5.1.6 mailbox moved,
      // 5.1.10 null MX (RFC 7505): the address is dead.
      if ([1, 2, 3, 6, 10].includes(detail)) return 'hard'
      // 5.1.7 / 5.1.8: *our* envelope sender's address or domain was refused, a sender problem.
      if (detail === 7 || detail === 8) return 'policy'
      return undefined
    case 2:
      // 5.2.1 disabled mailbox, but Gmail also sends "550 5.2.1 … receiving email at a rate …"
      // for a per-recipient rate limit, which is temporary.
      if (detail === 1) return has(text, TEMPORARY) ? 'soft' : 'hard'
      if (detail === 2) return 'soft' // mailbox full
      return undefined
    case 3:
      // 5.3.1 mail system full, 5.3.2 not accepting network messages: the receiving system's
      // state, which changes. 5.3.4 (too big) is about the message, not the recipient.
      if (detail === 1 || detail === 2) return 'soft'
      return detail === 4 ? 'unknown' : undefined
    case 4:
      // 5.4.4 "unable to route": as a permanent code it means the domain has no usable MX or A
      // record (Postfix: "Host or domain name not found"), so the address cannot receive mail.
      if (detail === 4) return 'hard'
      // 5.4.1 is "no answer from host" in RFC 3463, a condition that passes, but Exchange Online
      // sends "5.4.1 Recipient address rejected: Access denied" when the tenant has no such
      // recipient (directory-based edge blocking).
      if (detail === 1) return text.includes('recipient address rejected') ? 'hard' : 'soft'
      // 5.4.2 bad connection, 5.4.3 directory failure, 5.4.5 congestion, 5.4.7 expired after
      // retrying: all about transient conditions. 5.4.6 (routing loop) is a receiver misconfiguration.
      if ([2, 3, 5, 7].includes(detail)) return 'soft'
      return undefined
    case 7:
      // Security or policy: the receiver refused the sender (blocklist, reputation,
      // authentication, DMARC) unless the text says plainly that the mailbox does not exist.
      return has(text, NO_SUCH_USER) ? 'hard' : 'policy'
    default:
      // 5.0.x other, 5.5.x protocol, 5.6.x media conversion: nothing about the recipient.
      return undefined
  }
}

export function bounceCategory(input: BounceInput): BounceCategory {
  const text = (input.text ?? '').slice(0, MAX_TEXT).toLowerCase()
  const reply = REPLY_RE.exec(text)
  const status = STATUS_RE.exec((input.status ?? '').slice(0, 32)) ?? (reply?.[2] ? STATUS_RE.exec(reply[2]) : null)
  const code = input.code ?? (reply ? Number(reply[1]) : undefined)

  if (status) {
    const klass = status[1]
    if (klass === '2') return 'unknown' // not a failure at all
    // Every transient code is soft, 4.7.x included: a deferral is retried, never suppressed.
    if (klass === '4') return 'soft'
    return fromPermanent(Number(status[2]), Number(status[3]), text) ?? fromText(text) ?? 'unknown'
  }
  if (code !== undefined && code >= 400 && code < 500) return 'soft'
  if (code !== undefined && code >= 200 && code < 400) return 'unknown'
  const byText = fromText(text)
  if (byText) return byText
  // RFC 5321: 552 is "exceeded storage allocation" (a size complaint would have said so above).
  if (code === 552 && !text.includes('size')) return 'soft'
  return 'unknown'
}
