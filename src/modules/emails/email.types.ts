import type { Mailbox } from '../../lib/address.js'

export type RecipientKind = 'to' | 'cc' | 'bcc'
/** A configured stream's name (see modules/streams): `transactional`, `broadcast` or one the operator added. */
export type EmailStream = string

export const PENDING_STATUSES = ['scheduled', 'queued', 'sending', 'deferred'] as const
export const TERMINAL_STATUSES = ['sent', 'delivered', 'bounced', 'expired', 'failed', 'suppressed', 'cancelled'] as const
export type PendingStatus = (typeof PENDING_STATUSES)[number]
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number]
export type RecipientStatus = PendingStatus | TerminalStatus
export type EmailStatus = RecipientStatus | 'partially_delivered'

/** The answer to an accepted send (HTTP 202 body; replayed as stored for a repeated Idempotency-Key). */
export interface Accepted {
  id: string
  status: EmailStatus
  /** Recipients on the account's suppression list: stored as `suppressed`, never sent to. */
  suppressed: Array<{ address: string; reason: string }>
}

/** Attempts shown per recipient in an email's detail: the latest ones; `attemptsTotal` counts them all. */
export const MAX_ATTEMPTS_SHOWN = 20

export const isTerminal = (status: RecipientStatus): status is TerminalStatus => (TERMINAL_STATUSES as readonly string[]).includes(status)

/** The send request as the API documents it (snake_case). SMTP ingress builds the same draft. */
export interface SendEmailInput {
  from: string
  to?: string | string[]
  cc?: string | string[]
  bcc?: string | string[]
  reply_to?: string | string[]
  /** Required unless a template gives it. */
  subject?: string
  text?: string
  html?: string
  headers?: Record<string, string>
  attachments?: Array<{ filename: string; content: string; content_type?: string; content_id?: string }>
  tags?: Record<string, string>
  stream?: EmailStream
  scheduled_at?: string
  /** A campaign of the account (POST /v1/campaigns) this send belongs to. */
  campaign?: string
  /** A template (id or name) that gives subject, text and html, rendered with `variables`. */
  template?: string
  template_version?: number
  variables?: Record<string, unknown>
}

export interface AttachmentDraft {
  filename: string
  contentType: string
  contentId: string | undefined
  content: Buffer
}

/** A validated, normalised message ready to be stored. */
export interface EmailDraft {
  from: Mailbox
  fromHeader: string
  toHeader: string[]
  ccHeader: string[]
  replyTo: string[]
  recipients: Array<{ address: string; kind: RecipientKind }>
  subject: string
  text: string | undefined
  html: string | undefined
  headers: Record<string, string>
  attachments: AttachmentDraft[]
  tags: Record<string, string>
  stream: EmailStream
  scheduledAt: Date | undefined
  sizeBytes: number
  campaignId?: string
  /** The template version the content was rendered from. */
  template?: { id: string; version: number }
}
