import type { Logger } from '../../infra/logger.js'
import type { QuotaCounter } from '../../infra/quota-counter.js'
import { AppError, type ErrorDetail, notFound, unavailable, validationFailed } from '../../lib/errors.js'
import type { Principal } from '../api-keys/api-key.types.js'
import type { CampaignService } from '../campaigns/campaign.service.js'
import type { DeliveryJob, Dispatcher } from '../delivery/dispatch.port.js'
import { jobSender } from '../delivery/route.js'
import { DEFAULT_STREAMS } from '../streams/streams.js'
import type { TemplateVersionView } from '../templates/template.repository.js'
import type { BatchRepository } from './batch.repository.js'
import { withBroadcastFooter } from './broadcast-footer.js'
import { createAcceptBatcher, OUTCOME_UNKNOWN_RETRY_WITH_KEY } from './email.accept.js'
import { createBatchSubmitter } from './email.batch.js'
import { cachedLoader, prepareDraft } from './email.prepare.js'
import type { EmailRepository, ListFilter, NewEmailRows } from './email.repository.js'
import { acceptedBody, buildEmailRows, deliveriesToSend, type RowOptions } from './email.rows.js'
import { type Accepted, type EmailDraft, type EmailStatus, MAX_ATTEMPTS_SHOWN, type SendEmailInput } from './email.types.js'
import { checkEncodedSize, inspectSendInput, type ValidationLimits } from './email.validate.js'
import { inProgressError, mismatchError } from './idempotency.js'
import { createQuotas } from './quota.js'
import type { SmtpSubmission } from './smtp-submission.js'

export interface SubmitResult {
  body: Accepted
  /** True when this is the stored answer to an earlier request with the same Idempotency-Key. */
  replayed: boolean
}

type Idempotency = { key: string; fingerprint: string }

export interface EmailServiceDeps {
  /** Which route each recipient takes: one delivery (one SMTP transaction) per route. */
  routeFor?: (address: string) => string
  repository: EmailRepository
  dispatcher: Dispatcher
  logger: Logger
  limits: ValidationLimits & { maxDeliveryAgeMs: number }
  /** Batches of accepted messages committing at once. */
  acceptConcurrency: number
  /** Sending domains, asked when `requireVerifiedDomain` is set. */
  domains?: { isVerified(accountId: string, domain: string): Promise<boolean> }
  /**
   * Refuse mail whose From domain is not a verified sending domain of the account (fails closed
   * without `domains`): over HTTP the `from`, over SMTP both MAIL FROM and the From: header.
   */
  requireVerifiedDomain?: boolean
  /** Templates a send may name (`template` + `variables`). */
  templates?: { load(accountId: string, ref: string, version?: number): Promise<TemplateVersionView | undefined> }
  /** Campaigns a send may belong to. */
  campaigns?: Pick<CampaignService, 'forSend' | 'settleAccepted'>
  /** Batches written in one transaction (POST /v1/emails/batch). */
  batches?: BatchRepository
  /** Refuses sends into a stream the account has paused (or the complaint-rate guard has). */
  streamGate?: { checkOpen(accountId: string, stream: string): Promise<void> }
  /** Counts sends against the accounts' quotas per stream. */
  quotaCounter?: QuotaCounter
}

export function createEmailService(deps: EmailServiceDeps) {
  const { repository, dispatcher, logger, limits } = deps

  const quotas = createQuotas({ counter: deps.quotaCounter, streams: limits.streams ?? DEFAULT_STREAMS, logger })
  const accept = createAcceptBatcher({ store: repository, concurrency: deps.acceptConcurrency, logger })

  const dispatchAccepted = (rows: NewEmailRows): void => {
    const runAt = rows.email.scheduled_at ? new Date(rows.email.scheduled_at) : undefined
    // A delivery whose recipients are all suppressed has nothing to send: no job.
    const jobs: DeliveryJob[] = deliveriesToSend(rows).map((d) => ({
      deliveryId: d.id,
      attempt: 1,
      runAt,
      route: d.route,
      size: rows.email.size_bytes,
      sender: jobSender(d.route, { accountId: rows.email.account_id, fromHeader: rows.email.from_header }),
      stream: rows.email.stream,
    }))
    if (jobs.length === 0) return
    dispatcher
      .dispatch(jobs)
      .catch((err) => logger.warn({ err: String(err), emailId: rows.email.id }, 'dispatch failed; the sweeper will retry'))
  }

  const checkSendingDomain = async (accountId: string, domain: string, path: string): Promise<void> => {
    if (!deps.requireVerifiedDomain || (await deps.domains?.isVerified(accountId, domain))) return
    throw validationFailed([
      {
        path,
        message: `${domain} is not a verified sending domain of this account: add it with POST /v1/domains, publish its DNS records and verify it with POST /v1/domains/{id}/verify`,
      },
    ])
  }

  /**
   * Over SMTP the envelope sender and the From: header are independent, and receivers show
   * (and DMARC aligns on) the header: it must name exactly one mailbox, of a verified domain too.
   */
  const checkHeaderFrom = async (accountId: string, submission: SmtpSubmission): Promise<void> => {
    if (!deps.requireVerifiedDomain) return
    const { fields, mailboxes } = submission.headerFrom
    const refuse = (problem: string) =>
      validationFailed([{ path: '/headers/From', message: `${problem}; it must name exactly one mailbox of a verified sending domain` }])
    if (fields !== 1) throw refuse(fields === 0 ? 'is missing' : `appears ${fields} times`)
    const [only, ...more] = mailboxes
    if (!only || more.length > 0) throw refuse(`names ${mailboxes.length} mailboxes`)
    if (!only.ok) throw refuse(only.reason)
    if (only.mailbox.domain !== submission.draft.from.domain) await checkSendingDomain(accountId, only.mailbox.domain, '/headers/From')
  }

  /** The rows of an accepted draft: the broadcast footer added (not to a raw message), the size checked again. */
  function rowsOf(
    principal: Principal,
    draft: EmailDraft,
    options: Omit<RowOptions, 'routeFor' | 'maxDeliveryAgeMs' | 'now'>,
  ): NewEmailRows {
    // Mail composed here carries the account's broadcast footer; a raw message is sent as submitted.
    const broadcast = (limits.streams ?? DEFAULT_STREAMS).isBroadcast(draft.stream)
    const final = options.raw ? draft : withBroadcastFooter(draft, principal.broadcastFooter, broadcast)
    checkEncodedSize(final.sizeBytes, limits.maxMessageBytes, "With the account's broadcast footer the encoded message")
    return buildEmailRows(principal, final, {
      ...options,
      routeFor: deps.routeFor,
      perTransaction: broadcast ? 1 : undefined,
      maxDeliveryAgeMs: limits.maxDeliveryAgeMs,
      now: new Date(),
    })
  }

  /**
   * Sends into campaigns: each campaign is asked once for all its drafts (422 for one the
   * account does not have, 409 for a cancelled one); a throttled or scheduled campaign's slots
   * become the drafts' start times, and the drafts of a paused one are returned as held.
   */
  async function intoCampaigns(accountId: string, drafts: EmailDraft[]): Promise<Set<EmailDraft>> {
    const held = new Set<EmailDraft>()
    const byCampaign = new Map<string, EmailDraft[]>()
    for (const d of drafts) {
      if (!d.campaignId) continue
      const some = byCampaign.get(d.campaignId)
      if (some) some.push(d)
      else byCampaign.set(d.campaignId, [d])
    }
    for (const [id, some] of byCampaign) {
      if (!deps.campaigns) throw validationFailed([{ path: '/campaign', message: 'campaigns are not available here' }])
      const c = await deps.campaigns.forSend(accountId, id, some.length)
      some.forEach((d, i) => {
        const slot = c.slots[i]
        if (slot && slot.getTime() > Date.now() && (!d.scheduledAt || slot > d.scheduledAt)) d.scheduledAt = slot
        if (c.status === 'paused') held.add(d)
      })
    }
    return held
  }

  /** Commits the rows (alone under an Idempotency-Key, else in a shared batch); the stored answer when it is a replay. */
  async function commit(principal: Principal, rows: NewEmailRows, idempotency: Idempotency | undefined): Promise<SubmitResult | undefined> {
    if (idempotency) {
      const outcome = await repository
        .submitIdempotent(rows, principal.accountId, idempotency.key, idempotency.fingerprint)
        .catch((err: unknown) => {
          // The connection may have failed while COMMIT was on its way or waiting (for a
          // synchronous standby, a stalled disk): the message may be stored. A retry with the
          // same key is then answered from the stored record (or told the key is still busy
          // while that commit waits), so the caller is told to retry with it.
          throw err instanceof AppError && err.code === 'unavailable' ? unavailable(OUTCOME_UNKNOWN_RETRY_WITH_KEY, 5, err) : err
        })
      switch (outcome.kind) {
        case 'in_progress':
          throw inProgressError()
        case 'mismatch':
          throw mismatchError()
        case 'replayed':
          // Answers stored before the suppression list existed have no `suppressed`.
          return { body: { ...outcome.body, suppressed: outcome.body.suppressed ?? [] }, replayed: true }
      }
    } else {
      await accept.push(rows)
    }
    return undefined
  }

  /**
   * Commits one message (alone under an Idempotency-Key, else in a shared batch) and dispatches
   * it. The commit marks the recipients on the suppression list (see the repository's insert),
   * so the answer is read from the rows after it.
   */
  async function accepted(
    principal: Principal,
    draft: EmailDraft,
    options: Omit<RowOptions, 'routeFor' | 'maxDeliveryAgeMs' | 'now'>,
    idempotency: Idempotency | undefined,
  ): Promise<SubmitResult> {
    await deps.streamGate?.checkOpen(principal.accountId, draft.stream)
    const held = draft.campaignId ? (await intoCampaigns(principal.accountId, [draft])).has(draft) : false
    const rows = rowsOf(principal, draft, { ...options, held })
    // The stream's quota is taken before the commit and given back when nothing new is committed.
    const quota = await quotas.reserve(principal, draft.stream, rows.recipients.length)
    let replay: SubmitResult | undefined
    try {
      replay = await commit(principal, rows, idempotency)
    } catch (err) {
      await quota.refund(quota.granted)
      throw err
    }
    if (replay) {
      await quota.refund(quota.granted)
      return replay
    }
    // A pause, resume or cancel may have committed while this was being accepted.
    const status = draft.campaignId
      ? await deps.campaigns?.settleAccepted(principal.accountId, draft.campaignId, [rows.email.id], held)
      : undefined
    if (!status || status === 'active') dispatchAccepted(rows)
    return { body: acceptedBody(rows), replayed: false }
  }

  /**
   * The stored answer of an Idempotency-Key used before, looked up first: a retry is answered
   * from it whatever has changed since (a paused stream, a used-up quota, a deleted template).
   */
  async function replayed(principal: Principal, idempotency: Idempotency | undefined): Promise<SubmitResult | undefined> {
    const earlier = idempotency && (await repository.findIdempotent(principal.accountId, idempotency.key))
    if (!earlier) return undefined
    if (earlier.fingerprint !== idempotency?.fingerprint) throw mismatchError()
    const body = earlier.body as Accepted
    return { body: { ...body, suppressed: body.suppressed ?? [] }, replayed: true }
  }

  const templateLoader = (accountId: string) => cachedLoader(async (ref, version) => deps.templates?.load(accountId, ref, version))

  const batch = createBatchSubmitter({
    limits,
    repository: deps.batches,
    templateLoader,
    rowsOf,
    intoCampaigns,
    quotas,
    streamGate: deps.streamGate,
    settleAccepted: async (accountId, id, emailIds, anyHeld) => deps.campaigns?.settleAccepted(accountId, id, emailIds, anyHeld),
    domainProblem: async (accountId, domain) => {
      try {
        await checkSendingDomain(accountId, domain, '/from')
        return undefined
      } catch (err) {
        if (err instanceof AppError && err.code === 'validation_failed') return err.details?.[0]
        throw err
      }
    },
    dispatch: dispatchAccepted,
    findIdempotent: (accountId, key) => repository.findIdempotent(accountId, key),
  })

  return {
    /** `POST /v1/emails/batch`: many sends in one transaction (see email.batch.ts). */
    submitBatch: batch.submit,

    /** Every problem the semantic checks find in a body of any shape (used beside a failed schema check). */
    problems(input: unknown): ErrorDetail[] {
      try {
        return inspectSendInput(input, limits).details
      } catch {
        return []
      }
    },

    /** `POST /v1/emails`: validates, commits and dispatches one message; resolves only after the commit. */
    async submitApi(principal: Principal, input: SendEmailInput, options: { idempotency?: Idempotency } = {}): Promise<SubmitResult> {
      const replay = await replayed(principal, options.idempotency)
      if (replay) return replay
      const prepared = await prepareDraft(input, limits, templateLoader(principal.accountId))
      if (prepared.tooLarge) throw prepared.tooLarge
      const draft = prepared.draft
      if (!draft) throw validationFailed(prepared.details)
      await checkSendingDomain(principal.accountId, draft.from.domain, '/from')
      return accepted(principal, draft, { source: 'api' }, options.idempotency)
    },

    /** SMTP submission: the message as received, checked on its envelope sender and its From: header. */
    async submitDraft(principal: Principal, submission: SmtpSubmission): Promise<SubmitResult> {
      const replay = await replayed(principal, submission.idempotency)
      if (replay) return replay
      await checkSendingDomain(principal.accountId, submission.draft.from.domain, '/envelope/from')
      await checkHeaderFrom(principal.accountId, submission)
      return accepted(
        principal,
        submission.draft,
        { source: 'smtp', raw: submission.raw, messageId: submission.messageId },
        submission.idempotency,
      )
    },

    async get(principal: Principal, id: string) {
      const email = await repository.find(principal.accountId, id, MAX_ATTEMPTS_SHOWN)
      if (!email) throw notFound('Email')
      const events = await repository.events(principal.accountId, id, undefined, 100)
      return { email, events }
    },

    async list(principal: Principal, filter: Omit<ListFilter, 'accountId'>) {
      return repository.list({ ...filter, accountId: principal.accountId })
    },

    async events(principal: Principal, id: string, after: string | undefined, limit: number) {
      if (!(await repository.exists(principal.accountId, id))) throw notFound('Email')
      return repository.events(principal.accountId, id, after, limit)
    },

    /** Cancels every recipient not yet being sent; 409 when nothing is left to cancel. */
    async cancel(principal: Principal, id: string): Promise<{ id: string; status: EmailStatus; cancelled: number }> {
      const outcome = await repository.cancel(principal.accountId, id)
      if (!outcome) throw notFound('Email')
      if (outcome.cancelled === 0) {
        throw new AppError('conflict', `Nothing to cancel: every recipient is already being sent or finished (status ${outcome.status}).`)
      }
      return { id, ...outcome }
    },

    /** Waits for in-flight accept batches (graceful shutdown). */
    drain: () => accept.drain(),
  }
}

export type EmailService = ReturnType<typeof createEmailService>
