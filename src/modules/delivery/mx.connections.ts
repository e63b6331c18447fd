import type { Logger } from '../../infra/logger.js'
import type { DestinationLimiter } from './limiter.port.js'
import type { DestinationPolicy } from './shaping.js'
import type { NodemailerError } from './smtp-session.js'

/**
 * One connection slot of a destination, renewed from the moment it is taken (a slow MX walk
 * must not let it lapse). If a renewal finds it gone, it counts for nothing any more: the
 * connection using it is closed after its current transaction instead of being reused.
 */
export class Slot {
  lost = false
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly limiter: DestinationLimiter,
    readonly destination: string,
    readonly id: string,
    leaseMs: number,
  ) {
    this.timer = setInterval(() => {
      limiter.renewSlot(destination, this.id, leaseMs).then(
        (held) => {
          if (!held) this.lost = true
        },
        () => {},
      )
    }, leaseMs / 3)
    this.timer.unref()
  }

  async free(): Promise<void> {
    clearInterval(this.timer)
    await this.limiter.releaseSlot(this.destination, this.id)
  }
}

/** Connection failures in a row (refused, reset, timed out) after which a destination pauses. */
const CONNECT_FAILURES_BEFORE_PAUSE = 3

/** Socket errors that the other side causes: refused, reset, or no answer. Ours (no route, no free descriptor, a bad source address) are not counted. */
const REMOTE_SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'])

/** A connection that never got as far as an SMTP reply, for a reason on the destination's side. */
export const isConnectionFailure = (err: NodemailerError): boolean => {
  if (err.responseCode) return false
  const original = (err as { originalCode?: string; errno?: string }).originalCode ?? (err as { errno?: string }).errno
  if (err.code === 'ESOCKET') return REMOTE_SOCKET_ERRORS.has(String(original))
  // ECONNECTION: closed before any greeting; ETIMEDOUT: no greeting in time.
  return err.code === 'ECONNECTION' || err.code === 'ETIMEDOUT'
}

/**
 * Every host of a destination refused, reset or timed out the connection (au resets connections
 * when congested; docomo refuses sessions): after CONNECT_FAILURES_BEFORE_PAUSE of those in a
 * row, across every worker, the destination pauses as for a capacity reply.
 */
export async function countConnectionFailure(limiter: DestinationLimiter, logger: Logger, policy: DestinationPolicy): Promise<void> {
  try {
    const n = await limiter.connectFailed(policy.destination)
    if (n < CONNECT_FAILURES_BEFORE_PAUSE) return
    await limiter.connected(policy.destination)
    const until = await limiter.throttled(policy.destination, policy.pauseMs, policy.maxPauseMs)
    logger.warn(
      { destination: policy.destination, failures: n, until: new Date(until).toISOString() },
      'destination keeps refusing connections; pausing it',
    )
  } catch (err) {
    logger.warn({ err: String(err), destination: policy.destination }, 'could not count a failed connection')
  }
}
