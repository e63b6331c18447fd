import type { HeldRecipient } from './delivery.types.js'

/**
 * Keeps an attempt's claim alive while its SMTP transaction runs (docs/architecture.md §3, C7). Leases are
 * short, so a dead worker's recipients are taken over within about one lease plus one sweep;
 * a live worker renews them every `intervalMs`. The keeper says the claim is lost when a
 * renewal finds a recipient taken over, or when renewals have failed for so long that the
 * lease may have lapsed: the caller then stops the transaction unless its final dot has gone.
 */
export interface LeaseKeeperOptions {
  held: HeldRecipient[]
  leaseMs: number
  intervalMs: number
  /** Renews every lease given; resolves with the ids still held. */
  renew: (held: HeldRecipient[]) => Promise<Set<string>>
  onLost: (why: string) => void
  /** When the claim that set the leases was sent (they run from its commit, a little later). */
  claimedAt: number
  now?: () => number
}

/** Time kept in hand before the lease's end: a renewal in flight must land before it. */
const MAX_MARGIN_MS = 1_000

export function keepLeases(options: LeaseKeeperOptions) {
  const now = options.now ?? Date.now
  const margin = Math.min(MAX_MARGIN_MS, options.intervalMs / 2)
  let validUntil = options.claimedAt + options.leaseMs
  let lost = false
  let renewing = false

  const lose = (why: string) => {
    if (lost) return
    lost = true
    clearInterval(timer)
    options.onLost(why)
  }

  const renew = async () => {
    if (lost || renewing) return
    renewing = true
    const started = now()
    try {
      const held = await options.renew(options.held)
      if (held.size < options.held.length) return lose('another worker took over this claim')
      validUntil = started + options.leaseMs
    } catch {
      // A passing database error: the next tick tries again, unless the lease may already be gone.
      if (now() >= validUntil - margin) lose('the lease could not be renewed in time')
    } finally {
      renewing = false
    }
  }

  const tick = () => {
    // A renewal hung on a stalled database must not keep the claim looking alive.
    if (now() >= validUntil - margin) return lose('the lease could not be renewed in time')
    void renew()
  }
  const timer = setInterval(tick, options.intervalMs)
  timer.unref()

  return {
    get lost() {
      return lost
    },
    stop() {
      clearInterval(timer)
    },
  }
}

export type LeaseKeeper = ReturnType<typeof keepLeases>
