import type { SmtpPhase, SmtpReply } from './delivery.types.js'

/**
 * What a reply says, and so what to do about it (docs/architecture.md §10):
 * - `capacity`: too much at once; slow the destination down for a short while.
 * - `reconnect`: a per-connection cap; open a new connection, no penalty.
 * - `reputation`: our IP or domain is being rate limited; pause the destination for long.
 * - `policy_block`: our IP or domain is refused; suspend the destination, keep the mail deferred,
 *   never bounce or suppress the recipients for it.
 * - `sender_config`: the sender's authentication, DNS or TLS is wrong; that sender's mail to the
 *   destination waits (a hold on the sending domain), everyone else's goes on.
 * - `content`: this message was refused, not the address: no suppression.
 * - `recipient_temp`: this recipient, for now (busy, over quota).
 * - `recipient`: the address itself (unknown, disabled): a hard bounce.
 */
export const REPLY_CLASSES = [
  'capacity',
  'reconnect',
  'reputation',
  'policy_block',
  'sender_config',
  'content',
  'recipient_temp',
  'recipient',
] as const

export type ReplyClass = (typeof REPLY_CLASSES)[number]

/** The phases of a transaction a reply can come in ('done': the reply to the final dot). */
export type ReplyPhase = SmtpPhase | 'done'

/** One rule: every matcher given must match. Provider tokens and enhanced codes come before prose. */
export interface ReplyRule {
  id: string
  /** Shaping profile names the rule is for; omitted: any destination. */
  providers?: string[]
  /** Basic reply code, or an inclusive range. */
  code?: number | [number, number]
  enhanced?: RegExp
  /** Against the reply's text (after the codes). */
  text?: RegExp
  phases?: ReplyPhase[]
  class: ReplyClass
  /**
   * Whom the reply is about, for the classes that hold mail back: the destination (our IP, at
   * this provider), only the recipient's domain (one tenant's own rule), or only the sending
   * domain (its authentication): the mail of the latter two waits without pausing the provider
   * for everyone else. `sender` for `sender_config` rules, `destination` for the others, when omitted.
   */
  scope?: RuleScope
  /** How long the destination, domain or sender is held; the profile's pause (or HOLD_MS) when omitted. */
  pauseMs?: number
}

export type RuleScope = 'destination' | 'recipient_domain' | 'sender'

/** The rule that fired for a reply, as recorded with the attempt. */
export interface RuleMatch {
  id: string
  class: ReplyClass
  scope: RuleScope
  pauseMs?: number
}

/** Classes that slow the destination down, when the rule's scope is the destination. */
export const PAUSING: ReadonlySet<ReplyClass> = new Set(['capacity', 'reputation', 'policy_block'])

/** Classes that hold one recipient domain's or one sender's mail back, when the rule's scope is theirs. */
export const HOLDING: ReadonlySet<ReplyClass> = new Set(['capacity', 'reputation', 'policy_block', 'sender_config'])

/** Reply text beyond this is not read: every rule's tokens come early, and replies may be long. */
const MAX_TEXT = 2_000

const MINUTE = 60_000
const HOUR = 60 * MINUTE

const GOOGLE_SENDER_CONFIG = /^[45]\.7\.(23|24|25|26|27|29|30|31|32|40)$/

/**
 * The built-in table, from the providers' documented replies and observed ones (the sources are
 * listed in docs/architecture.md §10). First match wins: provider rules come first, the generic
 * ones last.
 */
export const BUILT_IN_RULES: ReplyRule[] = [
  // Google (every reply ends in "- gsmtp"). Google names the identity it limits: our IP is
  // everyone's problem (pause Google); a sending domain, a URL or one message is one sender's.
  { id: 'google.same_message_id', providers: ['google'], enhanced: /^4\.7\.28$/, text: /same Message-ID/i, class: 'recipient_temp' },
  {
    id: 'google.domain_reputation',
    providers: ['google'],
    enhanced: /^4\.7\.28$/,
    text: /(DKIM|SPF|URL) domain/i,
    class: 'sender_config',
  },
  { id: 'google.rate_reputation', providers: ['google'], enhanced: /^4\.7\.28$/, class: 'reputation', pauseMs: 30 * MINUTE },
  {
    id: 'google.tls_required',
    providers: ['google'],
    enhanced: /^4\.7\.0$/,
    text: /TLS required for RCPT domain/i,
    class: 'sender_config',
    // The recipient domain's own demand: its mail waits, not the sender's to everyone.
    scope: 'recipient_domain',
  },
  // One Workspace customer's gateway rule: that domain's mail waits; Google is not paused.
  {
    id: 'google.ip_not_allowed',
    providers: ['google'],
    enhanced: /^4\.7\.0$/,
    text: /IP not in whitelist for RCPT domain/i,
    class: 'policy_block',
    scope: 'recipient_domain',
  },
  { id: 'google.content', providers: ['google'], enhanced: /^4\.7\.0$/, text: /nature of the content|links/i, class: 'content' },
  { id: 'google.domain_reputation', providers: ['google'], enhanced: /^4\.7\.0$/, text: /sending domain/i, class: 'sender_config' },
  {
    id: 'google.ip_reputation',
    providers: ['google'],
    enhanced: /^4\.7\.0$/,
    text: /low reputation|unsolicited/i,
    class: 'reputation',
    pauseMs: HOUR,
  },
  // Our sending IP's reverse DNS: the host's configuration, every sender's alike, so no one
  // sender is held for it (the mail defers as sender_config; GET /v1/sending-host says what to fix).
  { id: 'google.no_ptr', providers: ['google'], enhanced: /^4\.7\.0$/, text: /PTR record/i, class: 'sender_config', scope: 'destination' },
  { id: 'google.no_ptr', providers: ['google'], enhanced: /^[45]\.7\.25$/, class: 'sender_config', scope: 'destination' },
  { id: 'google.authentication', providers: ['google'], enhanced: GOOGLE_SENDER_CONFIG, class: 'sender_config' },
  // A 421 carrying 5.7.32 (From not aligned): the enhanced code disagrees with the basic one and is left in the text.
  { id: 'google.authentication', providers: ['google'], code: 421, text: /^5\.7\.(26|27|29|30|32|40)\b/, class: 'sender_config' },
  { id: 'google.ip_blocked', providers: ['google'], code: [550, 559], enhanced: /^5\.7\.28$/, class: 'policy_block', pauseMs: 2 * HOUR },
  { id: 'google.not_rfc5322', providers: ['google'], code: [550, 559], enhanced: /^5\.7\.1$/, text: /RFC 5322/i, class: 'content' },
  {
    id: 'google.ip_blocked',
    providers: ['google'],
    code: [550, 559],
    enhanced: /^5\.7\.1$/,
    text: /reputation of the sending IP|IPv6 sending guidelines/i,
    class: 'policy_block',
    pauseMs: 2 * HOUR,
  },
  {
    id: 'google.domain_reputation',
    providers: ['google'],
    code: [550, 559],
    enhanced: /^5\.7\.1$/,
    text: /sending domain/i,
    class: 'sender_config',
  },
  // "This message is likely unsolicited": about the message, not about us.
  { id: 'google.unsolicited', providers: ['google'], code: [550, 559], enhanced: /^5\.7\.1$/, text: /unsolicited/i, class: 'content' },
  { id: 'google.recipient_rate', providers: ['google'], code: [550, 559], enhanced: /^5\.2\.1$/, text: /rate/i, class: 'recipient_temp' },

  // Yahoo and AOL.
  { id: 'yahoo.max_per_connection', providers: ['yahoo'], code: 421, text: /Max message per connection/i, class: 'reconnect' },
  {
    id: 'yahoo.blocked',
    providers: ['yahoo'],
    text: /\[(TS03|TSS09|TSS11|BL2\d)\]|permanently deferred/i,
    class: 'policy_block',
    pauseMs: 4 * HOUR,
  },
  { id: 'yahoo.reputation_long', providers: ['yahoo'], text: /\[(TSS05|IPTS05)\]/, class: 'reputation', pauseMs: 4 * HOUR },
  { id: 'yahoo.reputation', providers: ['yahoo'], text: /\[(TSS04|IPTS04|TS01|TS02)\]/, class: 'reputation', pauseMs: 2 * HOUR },
  {
    id: 'yahoo.unauthenticated',
    providers: ['yahoo'],
    text: /sender is unauthenticated|unresolvable RFC\.?5321 from domain/i,
    class: 'sender_config',
  },
  { id: 'yahoo.content', providers: ['yahoo'], text: /\[PH01\]|not accepted for policy reasons/i, class: 'content' },

  // Microsoft: Outlook.com and Microsoft 365. A tenant's own block list is that tenant's: its
  // domain's mail waits, Microsoft is not paused.
  {
    id: 'microsoft.tenant_block',
    providers: ['microsoft'],
    code: [500, 599],
    text: /Customer Block list|rejected by recipient/i,
    class: 'policy_block',
    scope: 'recipient_domain',
  },
  {
    id: 'microsoft.tenant_block',
    providers: ['microsoft'],
    enhanced: /^5\.7\.(513|507)$/,
    class: 'policy_block',
    scope: 'recipient_domain',
  },
  {
    id: 'microsoft.blocked',
    providers: ['microsoft'],
    code: [500, 599],
    text: /\(S31[45]0\)|\b(SC-00[1-4]|DY-00\d|OU-00\d)\b|banned sending IP|banned sender/i,
    class: 'policy_block',
    pauseMs: 2 * HOUR,
  },
  { id: 'microsoft.blocked', providers: ['microsoft'], enhanced: /^5\.7\.(6[0-4]\d|511)$/, class: 'policy_block', pauseMs: 2 * HOUR },
  { id: 'microsoft.no_ptr', providers: ['microsoft'], enhanced: /^[45]\.7\.25$/, class: 'sender_config', scope: 'destination' },
  { id: 'microsoft.authentication', providers: ['microsoft'], enhanced: /^[45]\.7\.(515|509|23|26)$/, class: 'sender_config' },
  { id: 'microsoft.connection_limit', providers: ['microsoft'], text: /\bRP-00[23]\b/, class: 'capacity' },
  {
    id: 'microsoft.reputation',
    providers: ['microsoft'],
    text: /\bRP-001\b|\((S775|S3114)\)|temporarily rate limited due to IP reputation/i,
    class: 'reputation',
    pauseMs: 90 * MINUTE,
  },
  { id: 'microsoft.reputation', providers: ['microsoft'], enhanced: /^4\.7\.(5\d\d|6\d\d|8[5-9]\d)$/, class: 'reputation', pauseMs: HOUR },

  // Japanese carriers: "User unknown" after the message is a filter, not a missing mailbox.
  {
    id: 'carrier.filtered',
    providers: ['docomo', 'kddi'],
    code: 550,
    phases: ['data', 'done'],
    text: /unknown user|user unknown/i,
    class: 'content',
  },
  { id: 'kddi.filtered', providers: ['kddi'], code: 550, text: /^:\s*User unknown/i, class: 'content' },

  // Any destination.
  { id: 'generic.too_big', code: [550, 559], enhanced: /^5\.3\.4$/, class: 'content' },
  { id: 'generic.no_ptr', code: [550, 559], enhanced: /^5\.7\.25$/, class: 'sender_config', scope: 'destination' },
  { id: 'generic.sender_auth', code: [550, 559], enhanced: /^5\.7\.(2[3-7])$/, class: 'sender_config' },
  { id: 'generic.throttled', code: 421, class: 'capacity' },
  { id: 'generic.throttled', code: [400, 499], enhanced: /^4\.7\./, class: 'capacity' },
  { id: 'generic.throttled', code: [400, 499], text: /\b(rate|too many|throttl|slow down)/i, class: 'capacity' },
]

const defaultScope = (c: ReplyClass): RuleScope => (c === 'sender_config' ? 'sender' : 'destination')

const inRange = (code: number, want: number | [number, number]) =>
  typeof want === 'number' ? code === want : code >= want[0] && code <= want[1]

function matches(rule: ReplyRule, reply: SmtpReply, text: string, provider: string | undefined, phase: ReplyPhase): boolean {
  if (rule.providers && (!provider || !rule.providers.includes(provider))) return false
  if (rule.code !== undefined && !inRange(reply.code, rule.code)) return false
  if (rule.enhanced && !(reply.enhanced && rule.enhanced.test(reply.enhanced))) return false
  if (rule.phases && !rule.phases.includes(phase)) return false
  if (rule.text && !rule.text.test(text)) return false
  return true
}

/** The first rule of `rules` that matches a reply from `provider` (a shaping profile name) in `phase`. */
export function matchReply(
  rules: readonly ReplyRule[],
  reply: SmtpReply,
  provider: string | undefined,
  phase: ReplyPhase,
): RuleMatch | undefined {
  // Success is never a rule's business.
  if (reply.code < 400) return undefined
  const text = reply.text.length > MAX_TEXT ? reply.text.slice(0, MAX_TEXT) : reply.text
  const rule = rules.find((r) => matches(r, reply, text, provider, phase))
  return rule
    ? { id: rule.id, class: rule.class, scope: rule.scope ?? defaultScope(rule.class), ...(rule.pauseMs ? { pauseMs: rule.pauseMs } : {}) }
    : undefined
}
