import { isDatabaseUnavailable, type Pool, type PrismaClient, withTransaction } from '../../infra/db.js'
import type { Logger } from '../../infra/logger.js'
import { createBatcher } from '../../lib/batcher.js'
import { AppError, type ErrorDetail, notFound, unavailable, validationFailed } from '../../lib/errors.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { Principal } from '../api-keys/api-key.types.js'
import type { DeliveryJob, Dispatcher } from '../delivery/dispatch.port.js'
import { insertEvents, listEmailEvents } from '../events/event.repository.js'
import {
  cancelRecipients,
  findEmail,
  insertEmails,
  type ListFilter,
  listEmails,
  type NewEmailRows,
  refreshEmailStatuses,
} from './email.repository.js'
import { buildEmailRows } from './email.rows.js'
import type { EmailDraft, EmailStatus, SendEmailInput } from './email.types.js'
import { inspectSendInput, type ValidationLimits, validateSendInput } from './email.validate.js'
import { IDEMPOTENCY_LOCK_SQL, IDEMPOTENCY_TTL_MS } from './idempotency.js'

/** Bytes of messages one accept statement carries at most (a larger message goes alone). */
const MAX_BATCH_BYTES = 16 * 1024 * 1024

export interface Accepted {
  id: string
  status: EmailStatus
}

export interface SubmitOptions {
  idempotency?: { key: string; fingerprint: string }
  source?: 'api' | 'smtp'
  raw?: Buffer
  messageId?: string
}

export interface SubmitResult {
  body: Accepted
  /** True when this is the stored answer to an earlier request with the same Idempotency-Key. */
  replayed: boolean
}

export interface EmailServiceDeps {
  /** Which route each recipient takes: one delivery (one SMTP transaction) per route. */
  routeFor?: (address: string) => string
  pool: Pool
  prisma: PrismaClient
  dispatcher: Dispatcher
  logger: Logger
  limits: ValidationLimits & { maxDeliveryAgeMs: number }
  /** Batches of accepted messages committing at once. */
  acceptConcurrency: number
  /** Sending domains, asked when `requireVerifiedDomain` is set. */
  domains?: { isVerified(accountId: string, domain: string): Promise<boolean> }
  /** Refuse mail whose From domain is not a verified sending domain of the account (fails closed without `domains`). */
  requireVerifiedDomain?: boolean
}

export function createEmailService(deps: EmailServiceDeps) {
  const { pool, prisma, dispatcher, logger, limits } = deps

  // Group commit: concurrent submissions share one transaction, and each caller's promise
  // resolves only after that transaction has committed (C1).
  const accept = createBatcher<NewEmailRows, void>({
    maxBatchSize: 200,
    concurrency: deps.acceptConcurrency,
    // Large messages commit alone instead of sharing (and bloating) a batch's statement.
    weight: (rows) => rows.email.size_bytes,
    maxBatchWeight: MAX_BATCH_BYTES,
    isolateFailures: true,
    run: async (batch) => {
      await insertEmails(pool, batch)
      return batch.map(() => undefined)
    },
  })

  const dispatchAccepted = (rows: NewEmailRows): void => {
    const runAt = rows.email.scheduled_at ? new Date(rows.email.scheduled_at) : undefined
    const jobs: DeliveryJob[] = rows.deliveries.map((d) => ({ deliveryId: d.id, attempt: 1, runAt, route: d.route }))
    dispatcher
      .dispatch(jobs)
      .catch((err) => logger.warn({ err: String(err), emailId: rows.email.id }, 'dispatch failed; the sweeper will retry'))
  }

  const checkSendingDomain = async (accountId: string, domain: string): Promise<void> => {
    if (!deps.requireVerifiedDomain || (await deps.domains?.isVerified(accountId, domain))) return
    throw validationFailed([
      {
        path: '/from',
        message: `${domain} is not a verified sending domain of this account: add it with POST /v1/domains, publish its DNS records and verify it with POST /v1/domains/{id}/verify`,
      },
    ])
  }

  const translateDbError = (err: unknown): never => {
    if (isDatabaseUnavailable(err)) throw unavailable('The database is unavailable; nothing was accepted. Retry shortly.', 5, err)
    throw err
  }

  async function submitIdempotent(rows: NewEmailRows, accountId: string, key: string, fingerprint: string): Promise<SubmitResult> {
    const body: Accepted = { id: rows.email.id, status: rows.email.status }
    return withTransaction(pool, async (client) => {
      const { rows: lock } = await client.query(`SELECT ${IDEMPOTENCY_LOCK_SQL} AS locked`, [accountId, key])
      if (!lock[0]?.locked) {
        throw new AppError(
          'idempotency_in_progress',
          'A request with this Idempotency-Key is still being processed; retry after it completes.',
        )
      }
      const { rows: found } = await client.query(
        'SELECT fingerprint, response_body FROM idempotency_records WHERE account_id = $1 AND key = $2 AND expires_at > now()',
        [accountId, key],
      )
      const stored = found[0] as { fingerprint: string; response_body: Accepted } | undefined
      if (stored) {
        if (stored.fingerprint !== fingerprint) {
          throw new AppError('idempotency_mismatch', 'This Idempotency-Key was already used with a different request body; use a new key.')
        }
        return { body: stored.response_body, replayed: true }
      }
      await insertEmails(client, [rows])
      await client.query(
        `INSERT INTO idempotency_records (account_id, key, fingerprint, response_status, response_body, email_id, expires_at)
         VALUES ($1, $2, $3, 202, $4, $5, now() + $6 * interval '1 millisecond')
         ON CONFLICT (account_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, response_status = 202,
           response_body = EXCLUDED.response_body, email_id = EXCLUDED.email_id, created_at = now(), expires_at = EXCLUDED.expires_at`,
        [accountId, key, fingerprint, JSON.stringify(body), rows.email.id, IDEMPOTENCY_TTL_MS],
      )
      return { body, replayed: false }
    })
  }

  return {
    /** Every problem the semantic checks find in a body of any shape (used beside a failed schema check). */
    problems(input: unknown): ErrorDetail[] {
      try {
        return inspectSendInput(input, limits).details
      } catch {
        return []
      }
    },

    /** Validates, commits and dispatches one message; resolves only after the commit. */
    async submit(principal: Principal, input: SendEmailInput | EmailDraft, options: SubmitOptions = {}): Promise<SubmitResult> {
      const draft = 'fromHeader' in input ? input : validateSendInput(input, limits)
      await checkSendingDomain(principal.accountId, draft.from.domain).catch(translateDbError)
      const rows = buildEmailRows(principal, draft, {
        ...options,
        routeFor: deps.routeFor,
        maxDeliveryAgeMs: limits.maxDeliveryAgeMs,
        now: new Date(),
      })
      let result: SubmitResult
      try {
        if (options.idempotency) {
          result = await submitIdempotent(rows, principal.accountId, options.idempotency.key, options.idempotency.fingerprint)
        } else {
          await accept.push(rows)
          result = { body: { id: rows.email.id, status: rows.email.status }, replayed: false }
        }
      } catch (err) {
        return translateDbError(err)
      }
      if (!result.replayed) dispatchAccepted(rows)
      return result
    },

    async get(principal: Principal, id: string) {
      const email = await findEmail(prisma, principal.accountId, id)
      if (!email) throw notFound('Email')
      const events = await listEmailEvents(pool, id, undefined, 100)
      return { email, events }
    },

    async list(principal: Principal, filter: Omit<ListFilter, 'accountId'>) {
      return listEmails(pool, { ...filter, accountId: principal.accountId })
    },

    async events(principal: Principal, id: string, after: string | undefined, limit: number) {
      const owned = await prisma.email.count({ where: { id, accountId: principal.accountId } })
      if (owned === 0) throw notFound('Email')
      return listEmailEvents(pool, id, after, limit)
    },

    /** Cancels every recipient not yet being sent; 409 when nothing is left to cancel. */
    async cancel(principal: Principal, id: string): Promise<{ id: string; status: EmailStatus; cancelled: number }> {
      const outcome = await withTransaction(pool, async (client) => {
        // No row lock here: recipients are locked first and the email last, in the order every
        // writer (claim, outcome, sweeper) uses, so cancel cannot deadlock with them.
        const { rows } = await client.query('SELECT id FROM emails WHERE id = $1 AND account_id = $2', [id, principal.accountId])
        if (rows.length === 0) throw notFound('Email')
        const cancelled = await cancelRecipients(client, id)
        await insertEvents(
          client,
          cancelled.map((r) => ({
            id: uuidv7(),
            accountId: r.account_id,
            emailId: id,
            recipientId: r.id,
            recipient: r.address,
            type: 'email.cancelled',
            data: {},
          })),
        )
        await refreshEmailStatuses(client, [id])
        const { rows: after } = await client.query<{ status: EmailStatus }>('SELECT status FROM emails WHERE id = $1', [id])
        return { cancelled: cancelled.length, status: (after[0] as { status: EmailStatus }).status }
      })
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
