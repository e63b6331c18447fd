import type { Pool } from '../../infra/db.js'
import type { Logger } from '../../infra/logger.js'
import { createBatcher } from '../../lib/batcher.js'
import { hasEightBit } from '../../lib/raw-message.js'
import { aggregateStatus } from '../emails/email.status.js'
import type { EventData, EventType } from '../events/event.types.js'
import {
  type ClaimedRecipient,
  type ClaimRequest,
  claimRecipients,
  type EmailContent,
  type RecordedOutcome,
  recordOutcomes,
} from './delivery.repository.js'
import type { RecipientOutcome, SessionInfo, TransactionResult } from './delivery.types.js'
import type { Dispatcher } from './dispatch.port.js'
import { composeMessage } from './mime.compose.js'
import { nextAttempt, type RetryPolicy } from './retry.schedule.js'
import { classifyTransaction } from './smtp-reply.classify.js'

/** Sends one SMTP transaction; the relay pool in relay mode. */
export interface Transport {
  send(envelope: { from: string; to: string[]; eightBit?: boolean }, message: Buffer): Promise<TransactionResult>
  close(): Promise<void>
}

export interface DeliveryServiceDeps {
  pool: Pool
  transport: Transport
  dispatcher: Dispatcher
  logger: Logger
  retry: RetryPolicy
  leaseMs: number
  /** Concurrent claim and record batches (database connections used by the worker's batches). */
  batchConcurrency: number
}

export type AttemptSummary = { claimed: 0 } | { claimed: number; outcomes: Record<string, number>; retryAt?: Date }

interface Claim {
  recipients: ClaimedRecipient[]
  email: EmailContent | undefined
}

export function createDeliveryService(deps: DeliveryServiceDeps) {
  const { pool, transport, dispatcher, logger } = deps

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

  async function send(claim: Claim): Promise<TransactionResult> {
    const email = claim.email as EmailContent
    try {
      const message = await composeMessage(email, email.attachments)
      const to = claim.recipients.map((r) => r.address)
      return await transport.send({ from: email.envelopeFrom, to, eightBit: hasEightBit(message) }, message)
    } catch (err) {
      // Not an SMTP outcome: a local fault. Defer rather than lose or bounce the message.
      logger.error({ err, emailId: email.id }, 'delivery attempt failed before SMTP completed')
      return { ok: false, phase: 'connect', message: String(err), session: { remoteHost: 'local', durationMs: 0 }, rejected: new Map() }
    }
  }

  return {
    /** Runs attempt `attempt` of a delivery: claim, send, classify, record, schedule a retry. */
    async attempt(request: ClaimRequest): Promise<AttemptSummary> {
      const claimedAt = Date.now()
      const claim = await claimer.push(request)
      if (claim.recipients.length === 0 || !claim.email) return { claimed: 0 }
      const email = claim.email
      const result = await send(claim)
      const classified = classifyTransaction(
        result,
        claim.recipients.map((r) => r.address),
      )
      const attemptNo = Math.max(...claim.recipients.map((r) => r.attempt))
      const now = new Date()
      const needsRetry = [...classified.values()].some((o) => o.status === 'deferred')
      const decision = needsRetry ? nextAttempt(deps.retry, attemptNo, now, email.expiresAt) : undefined
      const retryAt = decision?.retry ? decision.at : undefined

      const records = claim.recipients.map((r) => toRecord(r, classified.get(r.address) as RecipientOutcome, result.session, retryAt))
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
          .dispatch([{ deliveryId: request.deliveryId, attempt: attemptNo + 1, runAt: retryAt }])
          .catch((err) =>
            logger.warn({ err: String(err), deliveryId: request.deliveryId }, 'retry dispatch failed; the sweeper will retry'),
          )
      }
      const outcomes: Record<string, number> = {}
      for (const r of stillOurs) outcomes[r.status] = (outcomes[r.status] ?? 0) + 1
      return { claimed: claim.recipients.length, outcomes, retryAt }
    },

    /** Waits for claims and records in flight (graceful shutdown). */
    async drain(): Promise<void> {
      await claimer.drain()
      await recorder.drain()
    },
  }
}

const EVENT_BY_STATUS: Record<RecordedOutcome['status'], EventType> = {
  sent: 'email.sent',
  delivered: 'email.delivered',
  deferred: 'email.deferred',
  bounced: 'email.bounced',
  expired: 'email.expired',
  failed: 'email.failed',
}

function toRecord(r: ClaimedRecipient, o: RecipientOutcome, session: SessionInfo, retryAt: Date | undefined): RecordedOutcome {
  const status: RecordedOutcome['status'] = o.status === 'deferred' && !retryAt ? 'expired' : o.status
  const reason = status === 'deferred' ? (o.relayUnavailable ? 'relay_unavailable' : 'waiting_retry') : null
  const possibleDuplicate = o.possibleDuplicate || r.possibleDuplicate
  const data: EventData = {
    attempt: r.attempt,
    smtp_code: o.reply?.code,
    enhanced_code: o.reply?.enhanced,
    reply: o.reply?.text ?? o.error,
    remote_host: session.remoteHost,
    remote_ip: session.remoteIp,
    tls_version: session.tlsVersion,
    duration_ms: session.durationMs,
    reason: reason ?? undefined,
    next_attempt_at: status === 'deferred' ? retryAt?.toISOString() : undefined,
    possible_duplicate: possibleDuplicate || undefined,
  }
  return {
    recipientId: r.id,
    attemptId: r.attemptId,
    attempt: r.attempt,
    emailId: r.emailId,
    accountId: r.accountId,
    address: r.address,
    status,
    reason,
    nextAttemptAt: status === 'deferred' ? (retryAt ?? null) : null,
    phase: o.phase,
    smtpCode: o.reply?.code ?? null,
    enhancedCode: o.reply?.enhanced ?? null,
    reply: o.reply?.text ?? o.error ?? null,
    remoteHost: session.remoteHost,
    remoteIp: session.remoteIp ?? null,
    tlsVersion: session.tlsVersion ?? null,
    tlsCipher: session.tlsCipher ?? null,
    durationMs: session.durationMs,
    possibleDuplicate,
    eventType: EVENT_BY_STATUS[status],
    eventData: JSON.parse(JSON.stringify(data)),
    emailStatus: null,
  }
}

export type DeliveryService = ReturnType<typeof createDeliveryService>
