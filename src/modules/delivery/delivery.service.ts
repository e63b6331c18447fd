import type { Pool } from '../../infra/db.js'
import type { Logger } from '../../infra/logger.js'
import { createBatcher } from '../../lib/batcher.js'
import { hasEightBit } from '../../lib/raw-message.js'
import { aggregateStatus } from '../emails/email.status.js'
import {
  type ClaimedRecipient,
  type ClaimRequest,
  claimRecipients,
  type EmailContent,
  markWaiting,
  type RecordedOutcome,
  recordOutcomes,
} from './delivery.repository.js'
import type { RecipientOutcome, TransactionResult } from './delivery.types.js'
import type { Dispatcher } from './dispatch.port.js'
import { prepareMessage, type Signer } from './message.prepare.js'
import type { MxTicket, Reservation } from './mx.transport.js'
import { toRecord } from './outcome.records.js'
import { nextAttempt, type RetryPolicy } from './retry.schedule.js'
import { RELAY_ROUTE } from './route.js'
import { classifyTransaction } from './smtp-reply.classify.js'

/** Sends one SMTP transaction to the relay. */
export interface Transport {
  send(envelope: { from: string; to: string[]; eightBit?: boolean }, message: Buffer): Promise<TransactionResult>
  close(): Promise<void>
}

/** A busy destination is retried after at most this long, and waits this long or more are shown. */
const MAX_BUSY_WAIT_MS = 30_000
const VISIBLE_WAIT_MS = 2_000

/** Delivery straight to MX hosts, paced per destination (see mx.transport.ts). */
export interface DirectTransport {
  reserve(domain: string): Promise<Reservation>
  release(ticket: MxTicket): void
  send(ticket: MxTicket, envelope: { from: string; to: string[]; eightBit?: boolean }, message: Buffer): Promise<TransactionResult>
  /** A throttling reply from the ticket's destination; returns when its pause ends. */
  throttled(ticket: MxTicket): Promise<number>
  succeeded(ticket: MxTicket): Promise<void>
}

export interface DeliveryServiceDeps {
  pool: Pool
  relay: Transport
  mx?: DirectTransport
  signer?: Signer
  dispatcher: Dispatcher
  logger: Logger
  retry: RetryPolicy
  leaseMs: number
  /** Concurrent claim and record batches (database connections used by the worker's batches). */
  batchConcurrency: number
}

export type AttemptSummary =
  | { claimed: 0; delayUntil?: number }
  | { claimed: number; outcomes: Record<string, number>; retryAt?: Date; delayUntil?: undefined }

interface Claim {
  recipients: ClaimedRecipient[]
  email: EmailContent | undefined
}

export function createDeliveryService(deps: DeliveryServiceDeps) {
  const { pool, dispatcher, logger } = deps

  // Claims of many concurrent jobs share one statement and one commit.
  const claimer = createBatcher<ClaimRequest, Claim>({
    maxBatchSize: 200,
    concurrency: deps.batchConcurrency,
    run: async (requests) => {
      const { recipients: claimed, emails } = await claimRecipients(pool, requests, deps.leaseMs)
      return requests.map((_req, i) => {
        const recipients = claimed.filter((c) => c.request === i)
        return { recipients, email: recipients[0] ? emails.get(recipients[0].emailId) : undefined }
      })
    },
  })

  // Outcomes are written in grouped commits; a job completes only after its outcome is durable.
  const recorder = createBatcher<RecordedOutcome[], Set<string>>({
    maxBatchSize: 100,
    concurrency: deps.batchConcurrency,
    run: async (groups) => {
      const updated = await recordOutcomes(pool, groups.flat())
      return groups.map(() => updated)
    },
  })

  /**
   * The SMTP outcome is known: losing it to a passing database error would send the message
   * again once the lease runs out. So the write is retried, with backoff, while the lease holds.
   */
  async function recordDurably(records: RecordedOutcome[], leaseEnds: number): Promise<Set<string>> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await recorder.push(records)
      } catch (err) {
        if (Date.now() + delay >= leaseEnds) throw err
        logger.warn({ err: String(err), retryInMs: delay }, 'could not record a delivery outcome; retrying')
        await new Promise((resolve) => setTimeout(resolve, delay))
      }
    }
  }

  async function send(claim: Claim, request: ClaimRequest, ticket: MxTicket | undefined): Promise<TransactionResult> {
    const email = claim.email as EmailContent
    try {
      const { message, envelopeFrom } = await prepareMessage(email, {
        signer: deps.signer,
        verpDeliveryId: ticket ? request.deliveryId : undefined,
      })
      const envelope = { from: envelopeFrom, to: claim.recipients.map((r) => r.address), eightBit: hasEightBit(message) }
      return ticket && deps.mx ? await deps.mx.send(ticket, envelope, message) : await deps.relay.send(envelope, message)
    } catch (err) {
      // Not an SMTP outcome: a local fault. Defer rather than lose or bounce the message.
      logger.error({ err, emailId: email.id }, 'delivery attempt failed before SMTP completed')
      return { ok: false, phase: 'connect', message: String(err), session: { remoteHost: 'local', durationMs: 0 }, rejected: new Map() }
    }
  }

  /**
   * For an MX route: may this delivery go now? A paused destination, an exhausted rate or no free
   * connection means "later" — the job is put aside without holding a worker, and a long wait is
   * shown on the recipients (`waiting_rate_limit` with `next_attempt_at`).
   */
  async function admit(request: ClaimRequest): Promise<{ ticket?: MxTicket; delayUntil?: number }> {
    if (!request.route || request.route === RELAY_ROUTE || !deps.mx) return {}
    const reservation = await deps.mx.reserve(request.route)
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
    if (reason) await markWaiting(pool, request.deliveryId, new Date(until), reason)
    return { delayUntil: until }
  }

  /** A throttling reply or a success, told to the destination's shared state: best effort only. */
  async function reportToDestination(ticket: MxTicket, throttled: boolean, ok: boolean): Promise<number | undefined> {
    if (!deps.mx) return undefined
    try {
      if (throttled) return await deps.mx.throttled(ticket)
      if (ok) await deps.mx.succeeded(ticket)
    } catch (err) {
      // The SMTP outcome must still be recorded; losing a pause is better than resending mail.
      logger.warn({ err: String(err), domain: ticket.domain }, "could not update the destination's traffic state")
      if (throttled && ticket.policy) return Date.now() + ticket.policy.pauseMs
    }
    return undefined
  }

  async function attemptClaimed(request: ClaimRequest, ticket: MxTicket | undefined): Promise<AttemptSummary> {
    const claimedAt = Date.now()
    const claim = await claimer.push(request)
    if (claim.recipients.length === 0 || !claim.email) return { claimed: 0 }
    const email = claim.email
    const result = await send(claim, request, ticket)
    const classified = classifyTransaction(
      result,
      claim.recipients.map((r) => r.address),
    )
    const outcomes = [...classified.values()]
    const attemptNo = Math.max(...claim.recipients.map((r) => r.attempt))
    const now = new Date()
    const throttled = outcomes.some((o) => o.throttled)
    let retryAt: Date | undefined
    if (outcomes.some((o) => o.status === 'deferred')) {
      const decision = nextAttempt(deps.retry, attemptNo, now, email.expiresAt)
      retryAt = decision.retry ? decision.at : undefined
    }
    if (ticket) {
      // C6: a throttling reply slows the whole destination; the wait is its pause.
      const pausedUntil = await reportToDestination(ticket, throttled, result.ok)
      if (retryAt && pausedUntil && pausedUntil > retryAt.getTime()) retryAt = new Date(Math.min(pausedUntil, email.expiresAt.getTime()))
    }

    const direct = ticket !== undefined
    const records = claim.recipients.map((r) =>
      toRecord(r, classified.get(r.address) as RecipientOutcome, result.session, { retryAt, direct, throttled }),
    )
    // When this attempt holds every recipient of the email, its new status is known here; otherwise
    // the repository recomputes it from all recipients under a lock.
    const emailStatus = claim.recipients.length === email.recipientCount ? aggregateStatus(records.map((r) => r.status)) : null
    for (const rec of records) rec.emailStatus = emailStatus
    for (const rec of records) {
      if (rec.reason === 'relay_unavailable')
        logger.error({ emailId: rec.emailId, reply: rec.reply }, 'the relay refused us (credentials or TLS); check SMTP_RELAY_URL')
    }
    const updated = await recordDurably(records, claimedAt + deps.leaseMs)
    const stillOurs = records.filter((r) => updated.has(r.recipientId))
    if (retryAt && stillOurs.some((r) => r.status === 'deferred')) {
      await dispatcher
        .dispatch([{ deliveryId: request.deliveryId, attempt: attemptNo + 1, runAt: retryAt, route: request.route }])
        .catch((err) => logger.warn({ err: String(err), deliveryId: request.deliveryId }, 'retry dispatch failed; the sweeper will retry'))
    }
    const counts: Record<string, number> = {}
    for (const r of stillOurs) counts[r.status] = (counts[r.status] ?? 0) + 1
    return { claimed: claim.recipients.length, outcomes: counts, retryAt }
  }

  return {
    /** Runs attempt `attempt` of a delivery: claim, send, classify, record, schedule a retry. */
    async attempt(request: ClaimRequest): Promise<AttemptSummary> {
      const { ticket, delayUntil } = await admit(request)
      if (delayUntil) return { claimed: 0, delayUntil }
      try {
        return await attemptClaimed(request, ticket)
      } finally {
        // Whatever send did not consume (a claim that found nothing, a failure before SMTP).
        if (ticket) deps.mx?.release(ticket)
      }
    },

    /** Waits for claims and records in flight (graceful shutdown). */
    async drain(): Promise<void> {
      await claimer.drain()
      await recorder.drain()
    },
  }
}

export type DeliveryService = ReturnType<typeof createDeliveryService>
