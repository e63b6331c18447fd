import { AppError, type ErrorDetail, validationFailed } from '../../lib/errors.js'
import type { Principal } from '../api-keys/api-key.types.js'
import type { BatchItemOutcome, BatchItemRows, BatchRepository } from './batch.repository.js'
import { type PreparedDraft, prepareDraft, type TemplateLoader } from './email.prepare.js'
import type { NewEmailRows } from './email.repository.js'
import type { RowOptions } from './email.rows.js'
import type { Accepted, EmailDraft } from './email.types.js'
import type { ValidationLimits } from './email.validate.js'
import { MAX_IDEMPOTENCY_KEY_LENGTH, requestFingerprint } from './idempotency.js'

export const MAX_BATCH_ITEMS = 1_000
/** Rendering and checking a whole batch may take this long; past it the remaining items fail (a template that renders slowly 1,000 times must not hold the process). */
const PREPARE_BUDGET_MS = 10_000

export type BatchMode = 'partial' | 'strict'

export interface BatchInput {
  mode?: BatchMode
  /** Fields every item starts from (an item's own fields win; `variables` and `tags` are merged). */
  defaults?: Record<string, unknown>
  emails: Array<Record<string, unknown>>
}

export interface BatchItemError {
  index: number
  error: { code: string; message: string; details?: ErrorDetail[] }
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

const itemError = (index: number, err: AppError): BatchItemError => ({
  index,
  error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
})

export interface BatchDeps {
  limits: ValidationLimits
  repository?: BatchRepository
  templateLoader: (accountId: string) => TemplateLoader
  rowsOf: (principal: Principal, draft: EmailDraft, options: Omit<RowOptions, 'routeFor' | 'maxDeliveryAgeMs' | 'now'>) => NewEmailRows
  intoCampaigns: (accountId: string, drafts: EmailDraft[]) => Promise<Set<EmailDraft>>
  /** The problem with a From domain (not a verified sending domain), if any. */
  domainProblem: (accountId: string, domain: string) => Promise<ErrorDetail | undefined>
  dispatch: (rows: NewEmailRows) => void
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
    const strict = input.mode === 'strict'
    const loader = deps.templateLoader(principal.accountId)
    const errors: BatchItemError[] = []
    const deadline = Date.now() + PREPARE_BUDGET_MS
    const domains = new Map<string, Promise<ErrorDetail | undefined>>()
    const keysSeen = new Set<string>()
    const valid: Array<{ index: number; draft: EmailDraft; key?: { key: string; fingerprint: string } }> = []

    for (const [index, raw] of input.emails.entries()) {
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
      }
      const prepared: PreparedDraft = await prepareDraft(fields, deps.limits, loader)
      const shaped = new Set(details.map((d) => d.path))
      details.push(...prepared.details.filter((d) => !shaped.has(d.path)))
      const draft = prepared.draft
      if (draft && details.length === 0) {
        let domain = domains.get(draft.from.domain)
        if (!domain) {
          domain = deps.domainProblem(principal.accountId, draft.from.domain)
          domains.set(draft.from.domain, domain)
        }
        const problem = await domain
        if (problem) details.push(problem)
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
    errors.sort((a, b) => a.index - b.index)
    if (strict && errors.length > 0) throw strictFailure(errors)

    const outcome = await repository.accept(principal.accountId, rows, {
      strict,
      request: options.idempotency,
      answer: (items: BatchItemOutcome[]): BatchAnswer => {
        const all = [...errors]
        for (const o of items) {
          if (o.kind === 'mismatch') {
            all.push(
              itemError(
                o.index,
                new AppError('idempotency_mismatch', 'This idempotency_key was already used with a different item; use a new key.'),
              ),
            )
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
    switch (outcome.kind) {
      case 'in_progress':
        throw new AppError(
          'idempotency_in_progress',
          'A request with this Idempotency-Key is still being processed; retry after it completes.',
        )
      case 'mismatch':
        throw new AppError('idempotency_mismatch', 'This Idempotency-Key was already used with a different request body; use a new key.')
      case 'replayed':
        return { answer: outcome.answer, replayed: true }
      case 'item_mismatch':
        throw strictFailure(
          outcome.indexes.map((index) =>
            itemError(index, new AppError('idempotency_mismatch', 'This idempotency_key was already used with a different item')),
          ),
        )
    }
    const accepted = new Set(outcome.items.filter((o) => o.kind === 'accepted').map((o) => o.index))
    for (const r of rows) if (accepted.has(r.index)) deps.dispatch(r.rows)
    return { answer: outcome.answer, replayed: false }
  }

  return { submit }
}

/** Strict mode: nothing accepted; every problem of every item listed, with its item's path. */
function strictFailure(errors: BatchItemError[]): AppError {
  const details = errors.flatMap((e) => e.error.details ?? [{ path: `/emails/${e.index}`, message: e.error.message }])
  const failed = validationFailed(details)
  return new AppError(
    'validation_failed',
    `${errors.length} of the batch's items are invalid; nothing was accepted (mode strict): ${failed.message}`,
    {
      details: failed.details,
    },
  )
}
