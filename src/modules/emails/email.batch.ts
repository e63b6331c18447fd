import { AppError, type ErrorDetail, validationFailed } from '../../lib/errors.js'
import type { Principal } from '../api-keys/api-key.types.js'
import { CAMPAIGN_PAUSED } from '../campaigns/campaign.types.js'
import { type BatchItemError, itemError, quotaFailure, reserveQuotas, strictFailure } from './batch.parts.js'
import type { BatchItemOutcome, BatchItemRows, BatchOutcome, BatchRepository } from './batch.repository.js'
import { type PreparedDraft, prepareDraft, type TemplateLoader } from './email.prepare.js'
import type { NewEmailRows } from './email.repository.js'
import type { RowOptions } from './email.rows.js'
import type { Accepted, EmailDraft } from './email.types.js'
import type { ValidationLimits } from './email.validate.js'
import { inProgressError, MAX_IDEMPOTENCY_KEY_LENGTH, mismatchError, requestFingerprint } from './idempotency.js'
import type { Quotas } from './quota.js'

export type { BatchItemError }

export const MAX_BATCH_ITEMS = 1_000

const itemKeyMismatch = () =>
  new AppError('idempotency_mismatch', 'This idempotency_key was already used with a different item; use a new key.')
/**
 * Bytes of messages one batch accepts at most (encoded, as estimated): what one statement and
 * one process's memory should carry. Defaults merged into every item could otherwise turn a
 * small request into gigabytes of drafts.
 */
export const batchByteLimit = (maxMessageBytes: number): number => Math.max(64 * 1024 * 1024, 2 * maxMessageBytes)
/** Items prepared between two turns of the event loop: a batch must not hold the process for its whole length. */
const YIELD_EVERY = 25
/** Rendering and checking a whole batch may take this long; past it the remaining items fail (a template that renders slowly 1,000 times must not hold the process). */
const PREPARE_BUDGET_MS = 10_000

export type BatchMode = 'partial' | 'strict'

export interface BatchInput {
  mode?: BatchMode
  /** Fields every item starts from (an item's own fields win; `variables` and `tags` are merged). */
  defaults?: Record<string, unknown>
  emails: Array<Record<string, unknown>>
}

/** The answer to a batch (202): the accepted items in order, and the refused ones with their problems. */
export interface BatchAnswer {
  data: Array<Accepted & { index: number; replayed?: boolean }>
  errors: BatchItemError[]
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** An item with the defaults under it; `variables` and `tags` are merged key by key. */
export function mergeItem(defaults: Record<string, unknown> | undefined, item: Record<string, unknown>): Record<string, unknown> {
  if (!defaults) return item
  const merged: Record<string, unknown> = { ...defaults, ...item }
  for (const key of ['variables', 'tags']) {
    if (isRecord(defaults[key]) && isRecord(item[key])) merged[key] = { ...(defaults[key] as object), ...(item[key] as object) }
  }
  return merged
}

const prefixed = (index: number, details: ErrorDetail[]): ErrorDetail[] =>
  details.map((d) => ({ path: `/emails/${index}${d.path}`, message: d.message }))

export interface BatchDeps {
  limits: ValidationLimits
  repository?: BatchRepository
  templateLoader: (accountId: string) => TemplateLoader
  rowsOf: (principal: Principal, draft: EmailDraft, options: Omit<RowOptions, 'routeFor' | 'maxDeliveryAgeMs' | 'now'>) => NewEmailRows
  intoCampaigns: (accountId: string, drafts: EmailDraft[]) => Promise<Set<EmailDraft>>
  /** After the commit: the campaign's status now, its emails made to agree with it (see the campaign service). */
  settleAccepted: (accountId: string, id: string, emailIds: string[], anyHeld: boolean) => Promise<string | undefined>
  quotas: Quotas
  streamGate?: { checkOpen(accountId: string, stream: string): Promise<void> }
  /** The problem with a From domain (not a verified sending domain), if any. */
  domainProblem: (accountId: string, domain: string) => Promise<ErrorDetail | undefined>
  dispatch: (rows: NewEmailRows) => void
  /** The live record of an Idempotency-Key, looked up before anything is prepared. */
  findIdempotent?: (accountId: string, key: string) => Promise<{ fingerprint: string; body: unknown } | undefined>
}

/**
 * `POST /v1/emails/batch`: up to 1,000 sends, each checked like a single send (templates
 * rendered per item), accepted in one transaction. `partial` (the default) accepts the valid
 * items and lists the others with their index and problems; `strict` accepts nothing unless
 * every item is valid. Each item may carry its own `idempotency_key`; the request may carry one
 * for the whole batch.
 */
export function createBatchSubmitter(deps: BatchDeps) {
  async function submit(
    principal: Principal,
    input: BatchInput,
    options: {
      idempotency?: { key: string; fingerprint: string }
      /** The shape check of one item, defaults merged (the API's schema for a send, plus idempotency_key). */
      checkItem?: (item: Record<string, unknown>) => ErrorDetail[]
    } = {},
  ): Promise<{ answer: BatchAnswer; replayed: boolean }> {
    const repository = deps.repository
    if (!repository) throw new AppError('internal', 'batch sends are not available')
    // A retry is answered from the stored answer, whatever has changed since (a template, a campaign).
    const earlier = options.idempotency && (await deps.findIdempotent?.(principal.accountId, options.idempotency.key))
    if (earlier) {
      if (earlier.fingerprint !== options.idempotency?.fingerprint) throw mismatchError()
      return { answer: earlier.body as BatchAnswer, replayed: true }
    }
    const strict = input.mode === 'strict'
    const loader = deps.templateLoader(principal.accountId)
    const errors: BatchItemError[] = []
    const deadline = Date.now() + PREPARE_BUDGET_MS
    const domains = new Map<string, Promise<ErrorDetail | undefined>>()
    const streamsOpen = new Map<string, Promise<AppError | undefined>>()
    const keysSeen = new Set<string>()
    const valid: Array<{ index: number; draft: EmailDraft; key?: { key: string; fingerprint: string } }> = []

    let bytes = 0
    const byteLimit = batchByteLimit(deps.limits.maxMessageBytes)
    for (const [index, raw] of input.emails.entries()) {
      if (index > 0 && index % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
      if (Date.now() > deadline) {
        errors.push(itemError(index, new AppError('unavailable', 'The batch took too long to prepare; send the remaining items again.')))
        continue
      }
      const item = mergeItem(input.defaults, isRecord(raw) ? raw : {})
      const { idempotency_key: key, ...fields } = item
      const details: ErrorDetail[] = [...(options.checkItem?.(item) ?? [])]
      if (key !== undefined && (typeof key !== 'string' || key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
        details.push({ path: '/idempotency_key', message: `must be a string of 1-${MAX_IDEMPOTENCY_KEY_LENGTH} characters` })
      } else if (typeof key === 'string' && keysSeen.has(key)) {
        details.push({ path: '/idempotency_key', message: 'is used by an earlier item of this batch' })
      } else if (typeof key === 'string' && key === options.idempotency?.key) {
        details.push({ path: '/idempotency_key', message: "is the request's Idempotency-Key; give each item a key of its own" })
      }
      const prepared: PreparedDraft = await prepareDraft(fields, deps.limits, loader)
      const shaped = new Set(details.map((d) => d.path))
      details.push(...prepared.details.filter((d) => !shaped.has(d.path)))
      const draft = prepared.draft
      if (draft && details.length === 0 && deps.streamGate) {
        let open = streamsOpen.get(draft.stream)
        if (!open) {
          open = deps.streamGate.checkOpen(principal.accountId, draft.stream).then(
            () => undefined,
            (err: unknown) => {
              if (err instanceof AppError && err.code === 'conflict') return err
              throw err
            },
          )
          streamsOpen.set(draft.stream, open)
        }
        const closed = await open
        if (closed) {
          errors.push(itemError(index, closed))
          continue
        }
      }
      if (draft && details.length === 0) {
        let domain = domains.get(draft.from.domain)
        if (!domain) {
          domain = deps.domainProblem(principal.accountId, draft.from.domain)
          domains.set(draft.from.domain, domain)
        }
        const problem = await domain
        if (problem) details.push(problem)
      }
      if (draft && !prepared.tooLarge && details.length === 0) {
        bytes += draft.sizeBytes
        if (bytes > byteLimit) {
          errors.push(
            itemError(
              index,
              new AppError(
                'payload_too_large',
                `The batch's messages together pass ${byteLimit} bytes from this item on; send the rest in another batch.`,
              ),
            ),
          )
          continue
        }
      }
      if (prepared.tooLarge) errors.push(itemError(index, prepared.tooLarge))
      else if (details.length > 0 || !draft) errors.push(itemError(index, validationFailed(prefixed(index, details))))
      else {
        if (typeof key === 'string') keysSeen.add(key)
        valid.push({
          index,
          draft,
          key: typeof key === 'string' ? { key, fingerprint: requestFingerprint('POST', '/v1/emails/batch#item', fields) } : undefined,
        })
      }
    }

    // Campaigns are asked once each for all their items; one that refuses (unknown, cancelled) fails its items.
    const held = new Set<EmailDraft>()
    const byCampaign = new Map<string, typeof valid>()
    for (const v of valid) {
      if (!v.draft.campaignId) continue
      const some = byCampaign.get(v.draft.campaignId)
      if (some) some.push(v)
      else byCampaign.set(v.draft.campaignId, [v])
    }
    for (const items of byCampaign.values()) {
      try {
        for (const d of await deps.intoCampaigns(
          principal.accountId,
          items.map((i) => i.draft),
        ))
          held.add(d)
      } catch (err) {
        if (!(err instanceof AppError) || err.code === 'unavailable' || err.code === 'internal') throw err
        for (const i of items) errors.push(itemError(i.index, err))
      }
    }
    const failed = new Set(errors.map((e) => e.index))
    const rows: BatchItemRows[] = []
    for (const v of valid) {
      if (failed.has(v.index)) continue
      try {
        rows.push({ index: v.index, rows: deps.rowsOf(principal, v.draft, { source: 'api', held: held.has(v.draft) }), key: v.key })
      } catch (err) {
        if (!(err instanceof AppError)) throw err
        errors.push(itemError(v.index, err))
      }
    }
    if (strict && errors.length > 0) throw strictFailure(errors.sort((a, b) => a.index - b.index))

    // Quotas per stream: the items that fit (in order) go; the others get the quota's 429.
    const { overQuota, giveBack } = await reserveQuotas(deps.quotas, principal, rows, errors)
    if (strict && overQuota.size > 0) {
      await giveBack(() => 0)
      throw quotaFailure(errors, overQuota)
    }
    const toWrite = rows.filter((r) => !overQuota.has(r.index))
    errors.sort((a, b) => a.index - b.index)

    let outcome: BatchOutcome<BatchAnswer>
    try {
      outcome = await repository.accept(principal.accountId, toWrite, {
        strict,
        request: options.idempotency,
        answer: (items: BatchItemOutcome[]): BatchAnswer => {
          const all = [...errors]
          for (const o of items) {
            if (o.kind === 'mismatch') {
              all.push(itemError(o.index, itemKeyMismatch()))
            }
          }
          all.sort((a, b) => a.index - b.index)
          return {
            data: items.flatMap((o) =>
              o.kind === 'mismatch' ? [] : [{ index: o.index, ...o.body, ...(o.kind === 'replayed' ? { replayed: true } : {}) }],
            ),
            errors: all,
          }
        },
      })
    } catch (err) {
      await giveBack(() => 0)
      throw err
    }
    // What was reserved for items not written now (replayed, refused, or the whole request replayed) goes back.
    const written = new Set(outcome.kind === 'done' ? outcome.items.filter((o) => o.kind === 'accepted').map((o) => o.index) : [])
    await giveBack((stream) =>
      toWrite.filter((r) => r.rows.email.stream === stream && written.has(r.index)).reduce((n, r) => n + r.rows.recipients.length, 0),
    )
    switch (outcome.kind) {
      case 'in_progress':
        throw inProgressError()
      case 'mismatch':
        throw mismatchError()
      case 'replayed':
        return { answer: outcome.answer, replayed: true }
      case 'item_mismatch':
        throw strictFailure(outcome.indexes.map((index) => itemError(index, itemKeyMismatch())))
    }
    const accepted = new Set(outcome.items.filter((o) => o.kind === 'accepted').map((o) => o.index))
    const fresh = toWrite.filter((r) => accepted.has(r.index))
    // A pause, resume or cancel may have committed while the batch was being accepted.
    const stopped = new Set<string>()
    const inCampaigns = new Map<string, BatchItemRows[]>()
    for (const r of fresh) {
      const id = r.rows.email.campaign_id
      if (!id) continue
      const some = inCampaigns.get(id)
      if (some) some.push(r)
      else inCampaigns.set(id, [r])
    }
    for (const [id, some] of inCampaigns) {
      const anyHeld = some.some((r) => r.rows.recipients.some((x) => x.reason === CAMPAIGN_PAUSED))
      const status = await deps.settleAccepted(
        principal.accountId,
        id,
        some.map((r) => r.rows.email.id),
        anyHeld,
      )
      if (status && status !== 'active') stopped.add(id)
    }
    for (const r of fresh) if (!stopped.has(r.rows.email.campaign_id ?? '')) deps.dispatch(r.rows)
    return { answer: outcome.answer, replayed: false }
  }

  return { submit }
}
