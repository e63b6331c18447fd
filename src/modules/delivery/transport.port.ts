import type { TransactionResult } from './delivery.types.js'
import type { HoldScope } from './limiter.port.js'
import type { MxPlan } from './mx.plan.js'
import type { DestinationPolicy } from './shaping.js'
import type { Envelope, TransactionLimits } from './smtp-session.js'

export type { Envelope, TransactionLimits }

/**
 * The two ways mail leaves, as the delivery service sees them. Waiting for capacity never ends
 * an attempt: an MX destination's slot and rate token are reserved before the claim (its waits
 * can be long: a paused destination); a relay connection slot is waited for without a limit.
 */
export interface RelayTransport {
  /** Waits for a free connection slot; false when `signal` aborted first (or `timeoutMs` passed). */
  reserve(wait: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean>
  unreserve(): void
  /** Sends on a reserved slot. */
  send(envelope: Envelope, message: Buffer, limits: TransactionLimits): Promise<TransactionResult>
}

/** What an MX reservation holds: the destination's plan and policy, and a connection or a slot. */
export interface MxTicket {
  domain: string
  plan: MxPlan
  policy?: DestinationPolicy
  /** Concurrency factor when reserved: below 1 the destination is recovering from throttling. */
  factor: number
  /** Some sender's mail was held at the destination when reserved: the claimed email's sender is checked. */
  sendersHeld?: boolean
  /** The ended holds (of its recipient domain, of its sender) this delivery probes, and their mark (see DestinationLimiter.state). */
  probes?: { domain?: string; sender?: string; mark: number }
  /** A transaction was started with it. */
  sent?: boolean
}

export type Reservation =
  | { kind: 'go'; ticket: MxTicket }
  /** `busy`: no slot or no rate token right now — a short, repeated wait the caller should back off. */
  | {
      kind: 'wait'
      until: number
      reason?: 'waiting_rate_limit' | 'warming_up' | 'destination_blocked' | 'sender_config'
      busy?: boolean
      /** The destination it waits for (absent when none was found: no MX hosts). */
      destination?: string
    }

/** Delivery straight to MX hosts, paced per destination. */
export interface DirectTransport {
  /** `sender`: the job's sender (see holds.ts), when it names one. */
  /** `bulk`: a broadcast lane's delivery, which leaves part of each destination's connections to transactional mail. */
  reserve(domain: string, sender?: string, bulk?: boolean): Promise<Reservation>
  /** Counts a delivery as waiting for its destination until `until` (the destinations view's `waiting`). */
  putAside(destination: string, accountId: string, deliveryId: string, until: number): Promise<void>
  /** Gives back what a reservation holds when nothing was sent with it. */
  release(ticket: MxTicket): void
  send(ticket: MxTicket, envelope: Envelope, message: Buffer, limits: TransactionLimits): Promise<TransactionResult>
  /** A throttling reply from the ticket's destination; returns when its pause ends. */
  throttled(ticket: MxTicket, rule?: { id: string; pauseMs?: number }, reply?: string): Promise<number>
  succeeded(ticket: MxTicket): Promise<void>
  /** Holds one sender's or one recipient domain's mail at the ticket's destination for `ms`; returns the hold's end. */
  hold(ticket: MxTicket, scope: HoldScope, who: string, ms: number): Promise<number>
  /** Until when a sender's mail is held at the ticket's destination (epoch ms, 0 when not). */
  senderHeldUntil(ticket: MxTicket, sender: string): Promise<number>
  /** After the attempt of a ticket that probed ended holds: lifts them, but for the scope its reply renewed. */
  settleProbes(ticket: MxTicket, renewed?: HoldScope): Promise<void>
}
