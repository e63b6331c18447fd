import type { EmailStream } from '../emails/email.types.js'

/**
 * Why an address is suppressed, in the order the list prefers them when two rows apply (the
 * database enum has the same order): a hard bounce or a complaint first, `manual` last.
 */
export const SUPPRESSION_REASONS = ['hard_bounce', 'complaint', 'unsubscribe', 'manual'] as const
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number]

/** The streams a suppression may be limited to; a suppression without one covers every stream. */
export const SUPPRESSION_STREAMS = ['transactional', 'broadcast'] as const satisfies readonly EmailStream[]

/** How the table spells "every stream of the account" (the unique key cannot hold a NULL). */
export const ALL_STREAMS = ''

/** Rows one import request may carry (413 for a larger body, 422 for more rows). */
export const MAX_IMPORT_ROWS = 10_000

/** Rows an export reads per statement: the response is written page by page, never held whole. */
export const EXPORT_PAGE_SIZE = 1_000

/** Longest `note` a manual suppression may carry. */
export const MAX_NOTE_LENGTH = 500

/** One entry of an account's suppression list. */
export interface Suppression {
  id: string
  accountId: string
  /** Lower-cased (see `foldAddress`). */
  address: string
  /** The one stream it applies to, or null for every stream of the account. */
  stream: string | null
  reason: SuppressionReason
  /**
   * What caused it: `{ origin: 'api', note? }` added by hand, `{ origin: 'import' }` imported,
   * or what the feedback loop records (the email and recipient of a bounce or complaint).
   */
  source: Record<string, unknown>
  /** When it stops applying; null for never. */
  expiresAt: Date | null
  createdAt: Date
}

/** A suppression to add (`insertSuppressions`): the address is folded, the id and time are made there. */
export interface NewSuppression {
  accountId: string
  address: string
  /** Omitted or null: every stream of the account. */
  stream?: string | null
  reason: SuppressionReason
  source?: Record<string, unknown>
  expiresAt?: Date | null
}

/** A row of an import or a manual addition, checked. */
export interface SuppressionInput {
  address: string
  stream: string | null
  reason: SuppressionReason
  expiresAt: Date | null
}

export interface ListSuppressionsFilter {
  /** Exact (folded) address. */
  address?: string
  /** Every address at this domain (ASCII, lower case). */
  domain?: string
  reason?: SuppressionReason
  /** Suppressions that apply to mail of this stream: its own and the account-wide ones. */
  stream?: string
  createdAfter?: Date
  createdBefore?: Date
  /** Id of the last suppression of the previous page (ids are UUIDv7: newest first is id order). */
  before?: string
  limit: number
}

/** What an import did: rows received, entries created (or renewed after expiring), entries changed, rows that changed nothing. */
export interface ImportResult {
  received: number
  created: number
  updated: number
  unchanged: number
}
