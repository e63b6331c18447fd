/**
 * Per-destination traffic state shared by every worker process (C6): connection slots, a send
 * rate, and the throttling backoff. Implemented on Redis (src/infra/destination-limiter.ts).
 */
export interface DestinationLimiter {
  /** When the destination is paused (epoch ms, 0 when not) and its concurrency factor (0-1]. */
  state(destination: string): Promise<{ pausedUntil: number; factor: number }>
  /** Takes a connection slot if fewer than `max × factor` are held; the slot expires unless renewed. */
  acquireSlot(destination: string, slot: string, max: number, leaseMs: number): Promise<boolean>
  /** Extends a slot's lease; false when it had already expired (it no longer counts). */
  renewSlot(destination: string, slot: string, leaseMs: number): Promise<boolean>
  releaseSlot(destination: string, slot: string): Promise<void>
  /** Counts one message at `perSecond` and returns 0, or returns the ms to wait without counting. */
  reserveRate(destination: string, perSecond: number): Promise<number>
  /**
   * A throttling reply: halves the factor and pauses the destination for a growing interval, at
   * least `pauseMs` and at most `maxPauseMs`; the interval remembered for the next one stays
   * within `backoffCapMs`. Returns the pause end.
   */
  throttled(destination: string, pauseMs: number, maxPauseMs: number, backoffCapMs?: number): Promise<number>
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
