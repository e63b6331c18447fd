import { setMaxListeners } from 'node:events'
import type { Logger } from '../../infra/logger.js'
import { hasEightBit } from '../../lib/raw-message.js'
import { createSemaphore } from '../../lib/semaphore.js'
import { aggregateStatus } from '../emails/email.status.js'
import { type Admitted, createAdmission } from './delivery.admission.js'
import { type Claim, createDeliveryBatches } from './delivery.batches.js'
import type { DeliveryRepository } from './delivery.repository.js'
import type { ClaimRequest, HeldRecipient, RecipientOutcome, SmtpReply, TransactionResult } from './delivery.types.js'
import type { Dispatcher } from './dispatch.port.js'
import { applyHold, holdingRule, senderHeld } from './holds.js'
import { keepLeases } from './lease-keeper.js'
import { PrepareError, prepareMessage, type Signer } from './message.prepare.js'
import type { DeliveryMetrics } from './metrics.port.js'
import { toRecord } from './outcome.records.js'
import type { OutcomeRepository } from './outcome.repository.js'
import type { RuleMatch } from './reply-rules.js'
import { nextAttempt, type RetryPolicy } from './retry.schedule.js'
import { jobSender } from './route.js'
import { fromProvider } from './shaping.js'
import { classifyTransaction } from './smtp-reply.classify.js'
import { CUT_CODES } from './smtp-session.js'
import type { DirectTransport, MxTicket, RelayTransport, TransactionLimits } from './transport.port.js'

export interface DeliveryServiceDeps {
  repository: DeliveryRepository
  outcomes: OutcomeRepository
  /** The relay connections of a stream's lane (each lane has its own, so bulk mail never holds them all). */
  relay: (stream: string | undefined) => RelayTransport
  mx?: DirectTransport
  signer?: Signer
  dispatcher: Dispatcher
  logger: Logger
  retry: RetryPolicy
  lease: { leaseMs: number; renewIntervalMs: number }
  /** The hard cap of one SMTP transaction, and the wait for the reply to its final dot. */
  smtp: { transactionMs: number; dataTimeoutMs: number }
  /** Bytes of messages this process holds in flight at once. */
  memoryBudget: number
  /** Concurrent claim and record batches (database connections used by the worker's batches). */
  batchConcurrency: number
  /** One-click unsubscribe for broadcast mail: which streams are broadcast, and one recipient's header fields. */
  unsubscribe?: {
    isBroadcast(stream: string): boolean
    headers(recipientId: string, mailDomain: string | undefined): Array<[string, string]>
  }
  /** Counts claims and recorded outcomes for the process's metrics. */
  metrics?: DeliveryMetrics
}

export type AttemptSummary =
  | { claimed: 0; delayUntil?: number }
  | { claimed: number; outcomes: Record<string, number>; retryAt?: Date; delayUntil?: undefined }

export function createDeliveryService(deps: DeliveryServiceDeps) {
  const { dispatcher, logger } = deps
  // Each stream's lane has its own claim and record batches: a transactional claim never queues
  // behind a broadcast lane's batches (they share the database pool, not the queue in front of it).
  const lanes = new Map<string, ReturnType<typeof createDeliveryBatches>>()
  const batchesOf = (stream: string | undefined) => {
    const key = stream ?? 'transactional'
    let lane = lanes.get(key)
    if (!lane) {
      lane = createDeliveryBatches({ repository: deps.repository, outcomes: deps.outcomes, logger, concurrency: deps.batchConcurrency })
      lanes.set(key, lane)
    }
    return lane
  }
  const drainAll = async () => {
    await Promise.all([...lanes.values()].map((lane) => lane.drain()))
  }
  const admission = createAdmission({
    budget: createSemaphore(deps.memoryBudget),
    mx: deps.mx,
    repository: deps.repository,
    isBulk: (stream) => (stream ? (deps.unsubscribe?.isBroadcast(stream) ?? false) : false),
  })
  // Aborted when a graceful stop begins: no new transaction starts, and attempts still waiting
  // (for memory or a relay connection) give their claims back.
  const draining = new AbortController()
  // Aborted when a graceful stop runs out of time: every transaction still going is cut.
  const shutdown = new AbortController()
  // Every attempt in flight listens to them (at most WORKER_CONCURRENCY, each removed when its
  // attempt ends): not the leak Node warns about past ten listeners.
  setMaxListeners(0, draining.signal)
  setMaxListeners(0, shutdown.signal)
  let stopping = false
  let inFlight = 0
  let idle: (() => void) | undefined

  /** Prepares and sends; the transaction's cap runs from when its transport is ready to start. */
  async function send(
    claim: Claim,
    request: ClaimRequest,
    ticket: MxTicket | undefined,
    base: Omit<TransactionLimits, 'deadline'>,
    waiting: AbortSignal,
  ) {
    const limits = () => ({ ...base, deadline: Date.now() + deps.smtp.transactionMs })
    const email = claim.email as NonNullable<Claim['email']>
    // Broadcast mail goes one recipient per transaction (see email.rows), each with a link of its own.
    const [only, ...others] = claim.recipients
    const unsubscribe = deps.unsubscribe
    const listUnsubscribe =
      unsubscribe?.isBroadcast(email.stream) && only && others.length === 0
        ? (domain: string | undefined) => unsubscribe.headers(only.id, domain)
        : undefined
    try {
      const { message, envelopeFrom } = await prepareMessage(email, {
        signer: deps.signer,
        deliveryId: request.deliveryId,
        listUnsubscribe,
      })
      const envelope = { from: envelopeFrom, to: claim.recipients.map((r) => r.address), eightBit: hasEightBit(message) }
      if (ticket && deps.mx) return await deps.mx.send(ticket, envelope, message, limits())
      // A relay connection: waited for without a time limit (one frees up with every transaction
      // that ends), held only for this transaction.
      const relay = deps.relay(request.stream)
      if (!(await relay.reserve({ signal: waiting }))) return cutFailure(CUT_CODES.aborted, 'stopped before a relay connection was free')
      try {
        return await relay.send(envelope, message, limits())
      } finally {
        relay.unreserve()
      }
    } catch (err) {
      // Not an SMTP outcome: a local fault. A permanent one fails the message with its reason;
      // anything else (the database away, say) defers it rather than lose or bounce it.
      const permanent = err instanceof PrepareError
      logger.error({ err: permanent ? err.cause : err, emailId: email.id }, 'delivery attempt failed before SMTP')
      // What the account sees: the reason when it is theirs to know, never our internals.
      const message = permanent ? `Not sent: ${err.message}` : 'A temporary problem on our side stopped this attempt; it will be retried.'
      return localFailure(message, permanent)
    }
  }

  /** A throttling reply or a success, told to the destination's shared state: best effort only. */
  async function reportToDestination(
    ticket: MxTicket,
    throttled: boolean,
    ok: boolean,
    rule: RuleMatch | undefined,
    reply?: SmtpReply,
  ): Promise<number | undefined> {
    if (!deps.mx) return undefined
    try {
      if (throttled)
        return await deps.mx.throttled(ticket, rule, reply && [reply.code, reply.enhanced, reply.text].filter(Boolean).join(' '))
      if (ok) await deps.mx.succeeded(ticket)
    } catch (err) {
      // The SMTP outcome must still be recorded; losing a pause is better than resending mail.
      logger.warn({ err: String(err), domain: ticket.domain }, "could not update the destination's traffic state")
      if (throttled && ticket.policy) return Date.now() + Math.max(ticket.policy.pauseMs, rule?.pauseMs ?? 0)
    }
    return undefined
  }

  /** Claims given back at shutdown: queued again, and the next attempt dispatched at once. */
  async function releaseClaims(request: ClaimRequest, held: HeldRecipient[], attemptNo: number): Promise<AttemptSummary> {
    const released = await batchesOf(request.stream).release(held)
    await dispatcher
      .dispatch([
        {
          deliveryId: request.deliveryId,
          attempt: attemptNo + 1,
          route: request.route,
          size: request.size,
          sender: request.sender,
          stream: request.stream,
        },
      ])
      .catch((err) => logger.warn({ err: String(err), deliveryId: request.deliveryId }, 'dispatch failed; the sweeper will retry'))
    return { claimed: held.length, outcomes: { released: released.size } }
  }

  async function attemptClaimed(request: ClaimRequest, admitted: Admitted): Promise<AttemptSummary> {
    const claimedAt = Date.now()
    const batches = batchesOf(request.stream)
    const claim = await batches.claim(request)
    if (claim.recipients.length === 0 || !claim.email) return { claimed: 0 }
    const email = claim.email
    const held: HeldRecipient[] = claim.recipients.map((r) => ({ recipientId: r.id, attempt: r.attempt, attemptId: r.attemptId }))
    const attemptNo = Math.max(...claim.recipients.map((r) => r.attempt))
    // Its sender is held at this destination (its authentication failed there): the claim is
    // undone, uncounted, and the job waits for the hold's end (spread, so held mail does not all
    // wake at once).
    // (Only for a job that did not name its sender: one that did was checked by its reservation.)
    const senderHeldUntil = admitted.ticket && deps.mx && !request.sender ? await senderHeld(deps.mx, admitted.ticket, email, logger) : 0
    if (senderHeldUntil > Date.now()) {
      await batches.holdBack(held, new Date(senderHeldUntil), 'sender_config')
      return { claimed: 0, delayUntil: Math.min(senderHeldUntil + Math.floor(Math.random() * 30_000), email.expiresAt.getTime()) }
    }
    deps.metrics?.claimed(request.stream ?? 'transactional', claim.recipients)

    // The claim lives as long as the transaction does; if it is lost before the final dot, the
    // transaction stops, so that two workers never send the same recipients at once.
    // Stopped by a lost claim, or by the shutdown (a plain listener, removed when the attempt ends:
    // a combined signal per attempt would pile listeners on the long-lived shutdown signal).
    const stop = new AbortController()
    const onShutdown = () => stop.abort()
    shutdown.signal.addEventListener('abort', onShutdown, { once: true })
    // Waits (for memory, a relay connection) end on a lost claim and as soon as a stop begins.
    const waiting = new AbortController()
    const onDraining = () => waiting.abort()
    draining.signal.addEventListener('abort', onDraining, { once: true })
    stop.signal.addEventListener('abort', onDraining, { once: true })
    // A stop that began while this claim was being made: give it straight back.
    if (draining.signal.aborted) waiting.abort()
    if (shutdown.signal.aborted) stop.abort()
    let dotReleased = false
    let recorded = false
    const keeper = keepLeases({
      held,
      leaseMs: deps.lease.leaseMs,
      intervalMs: deps.lease.renewIntervalMs,
      claimedAt,
      renew: batches.renew,
      onLost: (why) => {
        // A renewal that lands after the outcome was recorded finds the rows no longer sending.
        if (recorded) return
        logger.warn({ deliveryId: request.deliveryId, why }, 'lost the claim of a delivery in flight')
        if (!dotReleased) stop.abort()
      },
    })
    try {
      // The job understated the message (or did not say): the budget grows before the content is
      // used, the lease renewed meanwhile.
      if (waiting.signal.aborted || !(await admitted.grow(email.sizeBytes, waiting.signal))) {
        return await releaseClaims(request, held, attemptNo)
      }
      const result = await send(
        claim,
        request,
        admitted.ticket,
        {
          dataTimeoutMs: deps.smtp.dataTimeoutMs,
          signal: stop.signal,
          beforeDot: async () => {
            if (keeper.lost) throw new Error('the claim was lost')
            const still = await batches.markData(held)
            if (still.size < held.length) throw new Error('another worker took over this claim')
            dotReleased = true
          },
        },
        waiting.signal,
      )
      // Cut by the stop before the final dot (or before it began): the claim goes back.
      const cutBeforeDot = !result.ok && result.phase !== 'after_data'
      if (cutBeforeDot && result.errorCode === CUT_CODES.aborted && draining.signal.aborted) {
        return await releaseClaims(request, held, attemptNo)
      }

      const policy = admitted.ticket?.policy
      // Provider rules read only the provider's own replies; a host that merely shares its profile
      // (a domain listing a provider's MX among its own) is read by the generic rules, and does
      // not pause the provider's profile for everyone.
      const host = result.session.remoteHost.split(' [')[0] ?? ''
      const genuine = !!admitted.ticket && fromProvider(policy, admitted.ticket.domain, host)
      const classified = classifyTransaction(
        result,
        claim.recipients.map((r) => r.address),
        { provider: genuine ? policy?.provider?.name : undefined, rules: policy?.rules },
      )
      const outcomes = [...classified.values()]
      const throttled = outcomes.some((o) => o.throttled) && (genuine || !policy?.provider)
      // The rule that asks for the longest pause speaks for the transaction.
      const pauseRule = outcomes
        .filter((o) => o.throttled && o.rule)
        .map((o) => o.rule as RuleMatch)
        .sort((a, b) => (b.pauseMs ?? 0) - (a.pauseMs ?? 0))[0]
      let retryAt: Date | undefined
      if (outcomes.some((o) => o.status === 'deferred')) {
        const decision = nextAttempt(deps.retry, attemptNo, new Date(), email.expiresAt)
        retryAt = decision.retry ? decision.at : undefined
      }
      // A per-connection cap (Yahoo's "max message per connection"): nothing is wrong, so the next
      // attempt goes at once, on a new connection — twice at most, then on the usual schedule, so
      // that a server that always says so cannot keep a delivery retrying every second.
      const deferredOnes = outcomes.filter((o) => o.status === 'deferred')
      const reconnect = deferredOnes.length > 0 && deferredOnes.every((o) => o.rule?.class === 'reconnect')
      if (retryAt && reconnect && attemptNo <= QUICK_RECONNECTS) retryAt = new Date(Math.min(retryAt.getTime(), Date.now() + 1_000))
      const ticket = admitted.ticket
      if (ticket) {
        // C6: a throttling reply slows the whole destination; the wait is its pause.
        const throttleReply = outcomes.find((o) => o.throttled && o.reply)?.reply
        const pausedUntil = await reportToDestination(ticket, throttled, result.ok, pauseRule, throttleReply)
        if (retryAt && pausedUntil && pausedUntil > retryAt.getTime()) retryAt = new Date(Math.min(pausedUntil, email.expiresAt.getTime()))
        // A rule about this sender or this recipient domain holds back only their mail.
        // Only a reply from the provider itself holds mail at its profile, as only such a reply
        // pauses it: a domain listing the provider's MX after its own must not hold a sender there.
        const hold = deps.mx && (genuine || !policy?.provider) ? holdingRule(outcomes) : undefined
        const heldUntil = hold && deps.mx ? await applyHold(deps.mx, ticket, hold, email, logger) : 0
        if (retryAt && heldUntil > retryAt.getTime()) retryAt = new Date(Math.min(heldUntil, email.expiresAt.getTime()))
        if (ticket.probes && deps.mx) await deps.mx.settleProbes(ticket, heldUntil ? hold?.scope : undefined)
      }

      const records = claim.recipients.map((r) =>
        toRecord(r, classified.get(r.address) as RecipientOutcome, result.session, { retryAt, direct: ticket !== undefined, throttled }),
      )
      // When this attempt holds every recipient of the email, its new status is known here; otherwise
      // the repository recomputes it from all recipients under a lock.
      const emailStatus = claim.recipients.length === email.recipientCount ? aggregateStatus(records.map((r) => r.status)) : null
      for (const rec of records) rec.emailStatus = emailStatus
      for (const rec of records) {
        if (rec.reason === 'relay_unavailable')
          logger.error({ emailId: rec.emailId, reply: rec.reply }, 'the relay refused us (credentials or TLS); check SMTP_RELAY_URL')
      }
      // A database away is waited out while the claim is ours and the process is not being cut
      // short; past that, the lease lapses and the recipients are taken over (flagged if DATA was
      // reached), which loses no mail.
      const updated = await batches.record(records, () => !keeper.lost && !shutdown.signal.aborted)
      recorded = true
      const stillOurs = records.filter((r) => updated.has(r.recipientId))
      // Counted only as recorded under this claim: once it lapsed, the attempt that took over counts its own.
      deps.metrics?.recorded(request.stream ?? 'transactional', stillOurs)
      if (retryAt && stillOurs.some((r) => r.status === 'deferred')) {
        await dispatcher
          .dispatch([
            {
              deliveryId: request.deliveryId,
              attempt: attemptNo + 1,
              runAt: retryAt,
              route: request.route,
              size: email.sizeBytes,
              sender: request.route ? jobSender(request.route, email) : undefined,
              stream: request.stream,
            },
          ])
          .catch((err) =>
            logger.warn({ err: String(err), deliveryId: request.deliveryId }, 'retry dispatch failed; the sweeper will retry'),
          )
      }
      const counts: Record<string, number> = {}
      for (const r of stillOurs) counts[r.status] = (counts[r.status] ?? 0) + 1
      return { claimed: claim.recipients.length, outcomes: counts, retryAt }
    } finally {
      keeper.stop()
      shutdown.signal.removeEventListener('abort', onShutdown)
      draining.signal.removeEventListener('abort', onDraining)
    }
  }

  return {
    /** Runs attempt `attempt` of a delivery: admit, claim, send, classify, record, schedule a retry. */
    async attempt(request: ClaimRequest): Promise<AttemptSummary> {
      // Stopping: the job goes back to the queue for another worker, untouched.
      if (stopping) return { claimed: 0, delayUntil: Date.now() + 1_000 }
      inFlight++
      try {
        const admission_ = await admission.admit(request, shutdown.signal)
        if ('delayUntil' in admission_) return { claimed: 0, delayUntil: admission_.delayUntil }
        try {
          return await attemptClaimed(request, admission_.admitted)
        } finally {
          admission_.admitted.release()
        }
      } finally {
        inFlight--
        if (inFlight === 0) idle?.()
      }
    },

    /**
     * Graceful stop: no new claims; attempts in flight may finish within `timeoutMs`, then the
     * transactions still going are cut. Those that had not reached the final dot give their
     * claims back (queued again, no duplicate flag); those past it are recorded as possible
     * duplicates. Resolves once every attempt has ended and its writes are done.
     */
    async stop(timeoutMs: number): Promise<void> {
      stopping = true
      draining.abort()
      const allDone = () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (idle = resolve)))
      let timer: NodeJS.Timeout | undefined
      await Promise.race([allDone(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
      clearTimeout(timer)
      if (inFlight > 0) {
        logger.warn({ inFlight }, 'stopping: cutting the deliveries still in flight')
        shutdown.abort()
        await allDone()
      }
      await drainAll()
    },

    /** Waits for claims and records in flight. */
    drain: drainAll,
  }
}

export type DeliveryService = ReturnType<typeof createDeliveryService>

/** Attempts of a delivery that may go again at once after a per-connection cap (`reconnect`). */
const QUICK_RECONNECTS = 2

/** A transaction stopped before it began (shutdown, a lost claim), as a transaction result. */
const cutFailure = (code: string, message: string): TransactionResult => ({
  ok: false,
  phase: 'connect',
  errorCode: code,
  message,
  session: { remoteHost: 'local', durationMs: 0 },
  rejected: new Map(),
})

/** A failure before any SMTP was spoken, as a transaction result (`ELOCAL`: permanent). */
const localFailure = (message: string, permanent: boolean): TransactionResult => ({
  ok: false,
  phase: 'connect',
  errorCode: permanent ? 'ELOCAL' : undefined,
  message,
  session: { remoteHost: 'local', durationMs: 0 },
  rejected: new Map(),
})
