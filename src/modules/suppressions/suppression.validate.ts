import { parseAddress } from '../../lib/address.js'
import { parseCsv } from '../../lib/csv.js'
import type { ErrorDetail } from '../../lib/errors.js'
import {
  MAX_IMPORT_ROWS,
  MAX_NOTE_LENGTH,
  SUPPRESSION_REASONS,
  SUPPRESSION_STREAMS,
  type SuppressionInput,
  type SuppressionReason,
} from './suppression.types.js'

/** A header longer than this is not a suppression export (and checking it must stay cheap). */
const MAX_CSV_COLUMNS = 16

/**
 * The form every suppressed address is stored and compared in: the whole address lower-cased,
 * local part included. RFC 5321 lets a receiver treat `Ada@` and `ada@` as two mailboxes, but
 * no mailbox provider does, and a suppression that misses on case mails a complainer (or a dead
 * address) again; the cost the other way, a real second mailbox differing only in case, is one
 * nobody has. Only ASCII letters are folded: the claim compares in SQL (`foldAddressSql`),
 * and folding exactly ASCII in both places gives the same answer whatever the database's locale
 * (the domain is already ASCII, A-labels; a non-ASCII local part is compared as written).
 */
export const foldAddress = (address: string): string => address.replace(/[A-Z]+/g, (letters) => letters.toLowerCase())

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_RE = /[\x00-\x1f\x7f]/
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

/** Longest address text looked at (the schemas' bound; RFC 5321 allows 254 once parsed). */
const MAX_ADDRESS_LENGTH = 320

export type AddressResult = { ok: true; address: string } | { ok: false; reason: string }

/**
 * An address as the send path parses it (`parseAddress`: RFC 5321 lengths, IDN domains to
 * A-labels), bare (no display name), folded. Line breaks and control characters are refused
 * before anything else: they have no place in an address and would forge CSV or header lines.
 */
export function parseSuppressedAddress(text: string): AddressResult {
  // Checked first, so that no message below quotes a huge value back.
  if (text.length > MAX_ADDRESS_LENGTH) return { ok: false, reason: `must be at most ${MAX_ADDRESS_LENGTH} characters` }
  if (/[\r\n]/.test(text)) return { ok: false, reason: 'must not contain line breaks (CR or LF)' }
  if (CONTROL_RE.test(text)) return { ok: false, reason: 'must not contain control characters' }
  const trimmed = text.trim()
  if (trimmed === '') return { ok: false, reason: 'is empty' }
  if (trimmed.includes('<') || trimmed.includes('>'))
    return { ok: false, reason: 'must be a bare address (user@example.com), without a name' }
  const parsed = parseAddress(trimmed)
  return parsed.ok ? { ok: true, address: foldAddress(parsed.mailbox.address) } : { ok: false, reason: parsed.reason }
}

const isStream = (value: string): boolean => (SUPPRESSION_STREAMS as readonly string[]).includes(value)
const isReason = (value: string): value is SuppressionReason => (SUPPRESSION_REASONS as readonly string[]).includes(value)
const oneOf = (values: readonly string[]) => `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}`

/** An expiry: RFC 3339 with a time zone, in the future. */
export function parseExpiry(text: string, now: Date): { ok: true; at: Date } | { ok: false; reason: string } {
  const at = new Date(text)
  if (!RFC3339_RE.test(text) || Number.isNaN(at.getTime())) {
    return { ok: false, reason: 'must be an RFC 3339 timestamp with a time zone, e.g. 2030-01-31T00:00:00Z' }
  }
  if (at.getTime() <= now.getTime()) return { ok: false, reason: 'must be in the future' }
  if (at.getUTCFullYear() > 9999) return { ok: false, reason: 'must be before the year 10000' }
  return { ok: true, at }
}

/** A note for a manual suppression: one line of at most MAX_NOTE_LENGTH characters. */
export function noteProblem(note: string): string | undefined {
  if (note.length > MAX_NOTE_LENGTH) return `must be at most ${MAX_NOTE_LENGTH} characters`
  if (CONTROL_RE.test(note)) return 'must not contain line breaks or control characters'
  return undefined
}

/** One entry as a caller sends it (JSON fields, or CSV columns by name). */
interface RawEntry {
  address?: unknown
  reason?: unknown
  stream?: unknown
  expires_at?: unknown
}

/**
 * Checks one entry. Only values of the right type are looked at (a JSON value of the wrong
 * type is the schema's to report), so one answer lists every problem; `path(field)` says where
 * each is reported. Empty strings (CSV cells) mean "not given".
 */
function inspectEntry(entry: RawEntry, path: (field: string) => string, now: Date, details: ErrorDetail[]): SuppressionInput | undefined {
  const before = details.length
  const bad = (field: string, message: string) => details.push({ path: path(field), message })
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined)

  let address: string | undefined
  if (typeof entry.address === 'string') {
    const parsed = parseSuppressedAddress(entry.address)
    if (parsed.ok) address = parsed.address
    else bad('address', parsed.reason)
  } else if (entry.address === undefined) {
    bad('address', 'is required')
  }
  let reason: SuppressionReason = 'manual'
  const reasonText = text(entry.reason)
  if (reasonText !== undefined) {
    if (isReason(reasonText)) reason = reasonText
    else bad('reason', oneOf(SUPPRESSION_REASONS))
  }
  const stream = text(entry.stream) ?? null
  if (stream !== null && !isStream(stream)) bad('stream', `${oneOf(SUPPRESSION_STREAMS)}, or empty for every stream`)
  let expiresAt: Date | null = null
  const expiresText = text(entry.expires_at)
  if (expiresText !== undefined) {
    const parsed = parseExpiry(expiresText, now)
    if (parsed.ok) expiresAt = parsed.at
    else bad('expires_at', parsed.reason)
  }
  return details.length === before && address !== undefined ? { address, stream, reason, expiresAt } : undefined
}

export interface InspectedImport {
  rows: SuppressionInput[]
  details: ErrorDetail[]
}

/** `{ suppressions: [...] }`: each entry checked, problems at `/suppressions/<index>/<field>`. */
export function inspectImportJson(body: unknown, now: Date): InspectedImport {
  const details: ErrorDetail[] = []
  const rows: SuppressionInput[] = []
  const list = body !== null && typeof body === 'object' ? (body as { suppressions?: unknown }).suppressions : undefined
  if (!Array.isArray(list)) return { rows, details }
  if (list.length > MAX_IMPORT_ROWS) {
    return { rows, details: [{ path: '/suppressions', message: `must have at most ${MAX_IMPORT_ROWS} items; split the import` }] }
  }
  list.forEach((entry, index) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return
    const row = inspectEntry(entry as RawEntry, (field) => `/suppressions/${index}/${field}`, now, details)
    if (row) rows.push(row)
  })
  return { rows, details }
}

const CSV_COLUMNS = ['address', 'reason', 'stream', 'expires_at'] as const
/** Columns an export writes that an import reads past: the import records its own time. */
const CSV_IGNORED = ['created_at']

/**
 * A CSV file with a header line naming its columns (`address` required; `reason`, `stream`,
 * `expires_at` optional, in any order): problems at `/line/<line>/<column>`, lines counted from
 * 1 with the header.
 */
export function inspectImportCsv(text: string, now: Date): InspectedImport {
  const parsed = parseCsv(text, MAX_IMPORT_ROWS + 1)
  if (!parsed.ok) {
    const tooMany = parsed.message.startsWith('more than')
    return {
      rows: [],
      details: [
        tooMany
          ? { path: '', message: `has more than ${MAX_IMPORT_ROWS} rows; split the import` }
          : { path: `/line/${parsed.line}`, message: `is not valid CSV (RFC 4180): ${parsed.message}` },
      ],
    }
  }
  const [header, ...records] = parsed.records
  if (!header)
    return {
      rows: [],
      details: [{ path: '/line/1', message: 'must be a header line naming the columns: address,reason,stream,expires_at' }],
    }
  const details: ErrorDetail[] = []
  if (header.fields.length > MAX_CSV_COLUMNS) {
    return {
      rows: [],
      details: [{ path: `/line/${header.line}`, message: `names ${header.fields.length} columns; at most ${MAX_CSV_COLUMNS}` }],
    }
  }
  const columns = header.fields.map((name) => name.trim().toLowerCase())
  columns.forEach((name, i) => {
    if (![...CSV_COLUMNS, ...CSV_IGNORED].includes(name)) {
      const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name
      details.push({
        path: `/line/${header.line}/${i + 1}`,
        message: `"${shown}" is not a column this import reads (${CSV_COLUMNS.join(', ')})`,
      })
    } else if (columns.indexOf(name) !== i) {
      details.push({ path: `/line/${header.line}/${i + 1}`, message: `"${name}" appears twice` })
    }
  })
  if (!columns.includes('address')) details.push({ path: `/line/${header.line}`, message: 'must name an address column' })
  if (details.length > 0) return { rows: [], details }

  const rows: SuppressionInput[] = []
  for (const record of records) {
    if (record.fields.length !== columns.length) {
      details.push({ path: `/line/${record.line}`, message: `has ${record.fields.length} fields; the header names ${columns.length}` })
      continue
    }
    const entry: Record<string, string> = {}
    columns.forEach((name, i) => {
      entry[name] = record.fields[i] as string
    })
    const row = inspectEntry(entry, (field) => `/line/${record.line}/${field}`, now, details)
    if (row) rows.push(row)
  }
  return { rows, details }
}
