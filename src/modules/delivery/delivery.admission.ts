import type { Semaphore } from '../../lib/semaphore.js'
import { UNKNOWN_SIZE } from './delivery.batches.js'
import type { DeliveryRepository } from './delivery.repository.js'
import type { ClaimRequest } from './delivery.types.js'
import { RELAY_ROUTE } from './route.js'
import type { DirectTransport, MxTicket } from './transport.port.js'

/**
 * What a delivery needs before it may be claimed: room in the worker's memory budget for its
 * message and, in MX mode, its destination's connection slot and rate token. Waiting for them is
 * not an attempt: nothing is claimed, nothing counted. When capacity will not come soon (a
 * paused or busy destination), the job is put aside (delayed in the queue) instead of holding a
 * worker. A relay connection is taken after the claim instead (see the delivery service): it
 * frees up within one SMTP transaction, so the wait is short, never timed out and never a
 * failed attempt, and the connection is not held while the claim and the outcome are written.
 */
export interface Admitted {
  ticket?: MxTicket
  /** Takes more of the budget once the claim shows the message is larger than the job said; false if `signal` aborted first. */
  grow(size: number, signal: AbortSignal): Promise<boolean>
  /** Gives back the budget, and whatever the MX ticket still holds. */
  release(): void
}

export type Admission = { admitted: Admitted } | { delayUntil: number }

/** A busy destination is retried after at most this long, and waits this long or more are shown. */
const MAX_BUSY_WAIT_MS = 30_000
const VISIBLE_WAIT_MS = 2_000

const soon = (ms = 1_000) => Date.now() + Math.round(ms * (1 + Math.random()))

export function createAdmission(deps: {
  budget: Semaphore
  mx?: DirectTransport
  repository: Pick<DeliveryRepository, 'markWaiting'>
  /** Whether a stream's lane is bulk (broadcast): it leaves part of each destination to transactional mail. */
  isBulk?: (stream: string | undefined) => boolean
}) {
  const { budget } = deps

  /** MX: may this delivery go now? A long wait is shown on the recipients (`waiting_rate_limit`). */
  async function reserveMx(request: ClaimRequest, mx: DirectTransport): Promise<{ ticket: MxTicket } | { delayUntil: number }> {
    const reservation = await mx.reserve(request.route as string, request.sender, deps.isBulk?.(request.stream) ?? false)
    if (reservation.kind === 'go') return { ticket: reservation.ticket }
    let { until, reason } = reservation
    if (reservation.busy) {
      // No slot or token yet: back off in proportion to the wait so far (at most 30 s, spread out),
      // so a deep backlog for a slow destination polls gently instead of storming.
      const now = Date.now()
      const waited = now - (request.waitingSince ?? now)
      const delay = Math.max(until - now, Math.min(MAX_BUSY_WAIT_MS, waited / 2))
      until = now + Math.round(delay * (1 + Math.random() / 2))
      if (until - now >= VISIBLE_WAIT_MS) reason = 'waiting_rate_limit'
    }
    if (reason) await deps.repository.markWaiting(request.deliveryId, new Date(until), reason)
    const accountId = request.sender?.split('/')[0]
    // Only for the destinations view, which shows provider profiles: a count lost is never a
    // delivery lost, so it is not waited for.
    if (reservation.destination?.startsWith('profile:') && accountId) {
      void mx.putAside(reservation.destination, accountId, request.deliveryId, until).catch(() => {})
    }
    return { delayUntil: until }
  }

  return {
    async admit(request: ClaimRequest, signal: AbortSignal): Promise<Admission> {
      let bytes = request.size ?? UNKNOWN_SIZE
      if (!(await budget.acquire(bytes, { signal }))) return { delayUntil: soon() }
      let ticket: MxTicket | undefined
      const admitted: Admitted = {
        get ticket() {
          return ticket
        },
        async grow(size, signal) {
          if (size <= bytes) return true
          // Given back and taken again whole: a message larger than the whole budget then goes
          // once it is alone, as at admission, instead of waiting on its own reservation.
          budget.release(bytes)
          bytes = 0
          if (!(await budget.acquire(size, { signal }))) return false
          bytes = size
          return true
        },
        release() {
          budget.release(bytes)
          bytes = 0
          if (ticket) deps.mx?.release(ticket)
          ticket = undefined
        },
      }
      try {
        if (!request.route || request.route === RELAY_ROUTE || !deps.mx) return { admitted }
        const mx = await reserveMx(request, deps.mx)
        if ('delayUntil' in mx) {
          admitted.release()
          return mx
        }
        ticket = mx.ticket
        return { admitted }
      } catch (err) {
        admitted.release()
        throw err
      }
    },
  }
}
