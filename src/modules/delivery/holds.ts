import type { Logger } from '../../infra/logger.js'
import type { RecipientOutcome } from './delivery.types.js'
import type { HoldScope } from './limiter.port.js'
import { HOLDING, type RuleMatch } from './reply-rules.js'
import { senderKey } from './route.js'
import type { DirectTransport, MxTicket } from './transport.port.js'

/**
 * Holds: a reply about one sender (its authentication) or one recipient domain (a tenant's own
 * block list) holds back only that sender's or that domain's mail at the destination, never
 * everyone's (docs/architecture.md §10). Held mail waits before its claim: the reservation reads
 * both holds (jobs name their sender). Only a job that names no sender learns it after its claim,
 * which is then undone as if never made (no attempt counted).
 */

/** How long a hold lasts when its rule does not say: long enough for a person to fix DNS or ask for delisting. */
export const HOLD_MS: Record<HoldScope, number> = { sender: 30 * 60_000, recipient_domain: 60 * 60_000 }

export type HoldRule = RuleMatch & { scope: HoldScope }

/** The rule of an attempt's outcomes that holds a sender or a recipient domain (the longest-asking one), if any. */
export function holdingRule(outcomes: readonly RecipientOutcome[]): HoldRule | undefined {
  let best: HoldRule | undefined
  for (const o of outcomes) {
    const rule = o.rule
    if (!rule || rule.scope === 'destination' || !HOLDING.has(rule.class)) continue
    const ms = rule.pauseMs ?? HOLD_MS[rule.scope]
    if (!best || ms > (best.pauseMs ?? HOLD_MS[best.scope])) best = rule as HoldRule
  }
  return best
}

/** The email a hold may be about: its account and From header. */
export interface HoldSubject {
  accountId: string
  fromHeader: string
}

/** Who a hold is on: the sender (see senderKey) or the delivery's recipient domain. */
export const holdTarget = (rule: HoldRule, ticket: MxTicket, email: HoldSubject): string =>
  rule.scope === 'sender' ? senderKey(email) : ticket.domain

/**
 * Records a hold at the ticket's destination; returns when it ends. Best effort, like a pause:
 * if the shared state cannot be written, the attempt's own recipients still wait as long.
 */
export async function applyHold(
  mx: DirectTransport,
  ticket: MxTicket,
  rule: HoldRule,
  email: HoldSubject,
  logger: Logger,
): Promise<number> {
  const ms = rule.pauseMs ?? HOLD_MS[rule.scope]
  const who = holdTarget(rule, ticket, email)
  if (!who) return Date.now() + ms
  try {
    return await mx.hold(ticket, rule.scope, who, ms)
  } catch (err) {
    logger.warn({ err: String(err), domain: ticket.domain, rule: rule.id }, 'could not record a hold at the destination')
    return Date.now() + ms
  }
}

/** Until when the claimed email's sender is held at the ticket's destination (0: not held, or unknown). */
export async function senderHeld(mx: DirectTransport, ticket: MxTicket, email: HoldSubject, logger: Logger): Promise<number> {
  const sender = senderKey(email)
  if (!sender) return 0
  try {
    return await mx.senderHeldUntil(ticket, sender)
  } catch (err) {
    // Sending into a hold costs one refused attempt; waiting on Redis would cost more.
    logger.warn({ err: String(err), domain: ticket.domain }, 'could not read the holds at the destination')
    return 0
  }
}
