export type HoldScope = 'sender' | 'recipient_domain'

export interface DestinationState {
  pausedUntil: number
  factor: number
  domainHeldUntil: number
  sendersHeld: number
  senderHeldUntil: number
  /** The holds this delivery probes, and the mark they were given. */
  probes: { domain: boolean; sender: boolean; mark: number }
}

export interface DestinationView {
  pausedUntil: number
  factor: number
  /** The last reply rule that paused the destination, and when. */
  lastRule?: { id: string; at: number }
  /** The account's senders held there, with when each hold ends (epoch ms). */
  senders: Array<{ who: string; until: number }>
  /** How many recipient domains are held there. */
  recipientDomainsHeld: number
  /** Connection slots held now, over every worker. */
  connections: number
  /** The account's deliveries put aside for it (paused, held, warming up, no free slot) and not yet due. */
  waiting: number
  /** The last throttling reply it gave (code, enhanced code, text), and when. */
  lastReply?: { text: string; at: number }
}

/**
 * Per-destination traffic state shared by every worker process (C6): connection slots, a send
 * rate, and the throttling backoff. Implemented on Redis (src/infra/destination-limiter.ts).
 */
export interface DestinationLimiter {
  /**
   * The destination's pause (epoch ms, 0 when not) and concurrency factor (0-1]; until when mail
   * to `recipientDomain` and from `sender` is held there (0 when not); how many senders have holds
   * there; and the probes this delivery takes: a hold that has just ended lets one delivery
   * through first (the others wait a minute more), which must then be settled (`settleProbe`).
   */
  state(destination: string, recipientDomain?: string, sender?: string): Promise<DestinationState>
  /**
   * Settles a probe taken with `mark`, unless the hold was renewed meanwhile: `end` lifts the hold
   * (the probe went and was not refused for it); `restore` leaves it ended, for the next delivery
   * to probe (this one never went). True when it did.
   */
  settleProbe(destination: string, scope: HoldScope, who: string, mark: number, how: 'end' | 'restore'): Promise<boolean>
  /**
   * Holds one recipient domain's or one sender's mail at this destination for at least `ms` (a
   * rule about them, not about everyone's traffic); returns the hold's end.
   */
  hold(destination: string, scope: HoldScope, who: string, ms: number): Promise<number>
  /** Until when a sender's mail to the destination is held (epoch ms, 0 when not). */
  senderHeldUntil(destination: string, sender: string): Promise<number>
  /** What the destination's state shows (the destinations view), with the holds of one account's senders only. */
  describe(destination: string, accountId: string): Promise<DestinationView>
  /** Takes a connection slot if fewer than `max × factor` are held; the slot expires unless renewed. */
  /** `share` below 1 (a bulk lane): only while fewer than that share of the slots are taken. */
  acquireSlot(destination: string, slot: string, max: number, leaseMs: number, share?: number): Promise<boolean>
  /** Extends a slot's lease; false when it had already expired (it no longer counts). */
  renewSlot(destination: string, slot: string, leaseMs: number): Promise<boolean>
  releaseSlot(destination: string, slot: string): Promise<void>
  /** Counts an account's delivery as waiting for the destination until `until` (epoch ms). */
  putAside(destination: string, accountId: string, deliveryId: string, until: number): Promise<void>
  /** Counts one message at `perSecond` and returns 0, or returns the ms to wait without counting. */
  reserveRate(destination: string, perSecond: number): Promise<number>
  /**
   * A throttling reply: halves the factor and pauses the destination for a growing interval, at
   * least `pauseMs` and at most `maxPauseMs`; the interval remembered for the next one stays
   * within `backoffCapMs`; `rule` is remembered as the last that fired. Returns the pause end.
   */
  throttled(destination: string, pauseMs: number, maxPauseMs: number, backoffCapMs?: number, rule?: string, reply?: string): Promise<number>
  /**
   * Takes one message of today's warm-up cap for this destination and sending IP (`source`);
   * `taken` is false when today's is spent. `schedule`: caps per sending day; `nextDay`: when the
   * next UTC day starts (epoch ms, by the limiter's clock).
   */
  warmupTake(destination: string, source: string, schedule: number[]): Promise<{ taken: boolean; nextDay: number }>
  /** Gives back a message of today's cap taken by a delivery that did not go. */
  warmupGiveBack(destination: string, source: string): Promise<void>
  /** A throttle today: the warm-up ramp does not move on the next sending day. */
  warmupFreeze(destination: string, source: string): Promise<void>
  /** A connection to the destination failed (refused, reset, timed out): how many in a row now. */
  connectFailed(destination: string): Promise<number>
  /** A connection was opened: the count of failures in a row starts again. */
  connected(destination: string): Promise<void>
  /** A success: after enough of them the factor recovers one step; pauses shorten once it is whole. */
  succeeded(destination: string): Promise<void>
}
