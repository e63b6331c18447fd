import { normaliseDomain } from '../../lib/address.js'
import { type ErrorDetail, notFound, validationFailed } from '../../lib/errors.js'
import type { SuppressionRepository } from './suppression.repository.js'
import {
  EXPORT_PAGE_SIZE,
  type ImportResult,
  type ListSuppressionsFilter,
  type Suppression,
  type SuppressionInput,
} from './suppression.types.js'
import { inspectImportCsv, inspectImportJson, noteProblem, parseExpiry, parseSuppressedAddress } from './suppression.validate.js'

export interface SuppressionServiceDeps {
  repository: SuppressionRepository
  now?: () => Date
}

/** A manual addition as the API takes it (snake_case fields, checked here). */
export interface AddSuppressionInput {
  address: string
  stream?: string | null
  expires_at?: string | null
  note?: string
}

/**
 * The suppression list of an account: addresses its mail is not sent to (checked at accept and
 * again at claim, see `lookupSuppressions`). Entries come from the feedback loop (hard bounces,
 * complaints), from imports, and by hand.
 */
export function createSuppressionService(deps: SuppressionServiceDeps) {
  const { repository } = deps
  const now = deps.now ?? (() => new Date())

  /** An address from a path or query parameter, folded; 422 at `path` when it is not one. */
  const address = (text: string, path: string): string => {
    const parsed = parseSuppressedAddress(text)
    if (!parsed.ok) throw validationFailed([{ path, message: parsed.reason }])
    return parsed.address
  }

  const write = async (accountId: string, rows: SuppressionInput[], received: number): Promise<ImportResult> => {
    const { created, updated } = await repository.addMany(
      rows.map((r) => ({
        accountId,
        address: r.address,
        stream: r.stream,
        reason: r.reason,
        expiresAt: r.expiresAt,
        source: { origin: 'import' },
      })),
    )
    return { received, created, updated, unchanged: received - created - updated }
  }

  return {
    async list(accountId: string, filter: Omit<ListSuppressionsFilter, 'address' | 'domain'> & { address?: string; domain?: string }) {
      const query: ListSuppressionsFilter = { ...filter, address: undefined, domain: undefined }
      const details: ErrorDetail[] = []
      if (filter.address !== undefined) {
        const parsed = parseSuppressedAddress(filter.address)
        if (parsed.ok) query.address = parsed.address
        else details.push({ path: '/query/address', message: parsed.reason })
      }
      if (filter.domain !== undefined) {
        const domain = normaliseDomain(filter.domain.trim().replace(/^@/, ''))
        if (domain) query.domain = domain
        else details.push({ path: '/query/domain', message: `"${filter.domain}" is not a domain name (expected e.g. example.com)` })
      }
      if (details.length > 0) throw validationFailed(details)
      return repository.list(accountId, query)
    },

    async get(accountId: string, rawAddress: string, stream: string | null): Promise<Suppression> {
      const found = await repository.find(accountId, address(rawAddress, '/params/address'), stream)
      if (!found) throw notFound('Suppression')
      return found
    },

    /** Problems the semantic checks find in a manual addition of any shape (merged with a failed schema check). */
    addProblems(body: unknown): ErrorDetail[] {
      return inspectAdd(body, now()).details
    },

    /** Adds an address by hand (`manual`); `created` is false when it was already on the list (merged, see insertSuppressions). */
    async add(accountId: string, input: AddSuppressionInput): Promise<{ suppression: Suppression; created: boolean }> {
      const { address, expiresAt, details } = inspectAdd(input, now())
      if (address === undefined || details.length > 0) throw validationFailed(details)
      return repository.add({
        accountId,
        address,
        stream: input.stream ?? null,
        reason: 'manual',
        expiresAt,
        source: { origin: 'api', ...(input.note ? { note: input.note } : {}) },
      })
    },

    async remove(accountId: string, rawAddress: string, stream: string | null): Promise<void> {
      if (!(await repository.remove(accountId, address(rawAddress, '/params/address'), stream))) throw notFound('Suppression')
    },

    /** Problems the semantic checks find in a JSON import of any shape (merged with a failed schema check). */
    importProblems(body: unknown): ErrorDetail[] {
      return inspectImportJson(body, now()).details
    },

    /**
     * Imports `{ suppressions: [...] }`: every row is checked first, and any problem refuses the
     * whole request (422 listing each one) with nothing written, so a corrected retry is safe;
     * then all rows are written in one statement.
     */
    async importJson(accountId: string, body: unknown): Promise<ImportResult> {
      const { rows, details } = inspectImportJson(body, now())
      if (details.length > 0) throw validationFailed(details)
      const received = (body as { suppressions: unknown[] }).suppressions.length
      return write(accountId, rows, received)
    },

    /** Imports a CSV file (header `address,reason,stream,expires_at`), all or nothing like `importJson`. */
    async importCsv(accountId: string, text: string): Promise<ImportResult> {
      const { rows, details } = inspectImportCsv(text, now())
      if (details.length > 0) throw validationFailed(details)
      return write(accountId, rows, rows.length)
    },

    /**
     * Every live entry of the account, oldest first, a page (EXPORT_PAGE_SIZE) per statement:
     * whoever writes the response pulls the next page only when it wants more.
     */
    async *exportAll(accountId: string): AsyncGenerator<Suppression[]> {
      let after: string | undefined
      for (;;) {
        const page = await repository.page(accountId, after, EXPORT_PAGE_SIZE)
        if (page.length > 0) yield page
        if (page.length < EXPORT_PAGE_SIZE) return
        after = (page[page.length - 1] as Suppression).id
      }
    },
  }
}

export type SuppressionService = ReturnType<typeof createSuppressionService>

/** The checks of a manual addition beyond its schema, on the fields of the right type only. */
function inspectAdd(body: unknown, now: Date): { address?: string; expiresAt: Date | null; details: ErrorDetail[] } {
  const input = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>
  const details: ErrorDetail[] = []
  let address: string | undefined
  if (typeof input.address === 'string') {
    const parsed = parseSuppressedAddress(input.address)
    if (parsed.ok) address = parsed.address
    else details.push({ path: '/address', message: parsed.reason })
  }
  let expiresAt: Date | null = null
  if (typeof input.expires_at === 'string') {
    const expiry = parseExpiry(input.expires_at, now)
    if (expiry.ok) expiresAt = expiry.at
    else details.push({ path: '/expires_at', message: expiry.reason })
  }
  const noteIssue = typeof input.note === 'string' ? noteProblem(input.note) : undefined
  if (noteIssue) details.push({ path: '/note', message: noteIssue })
  return { address, expiresAt, details }
}
