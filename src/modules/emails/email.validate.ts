import { detectMimeType } from 'nodemailer/lib/mime-funcs'
import { formatMailbox, type Mailbox, parseMailbox } from '../../lib/address.js'
import { AppError, type ErrorDetail, validationFailed } from '../../lib/errors.js'
import { isUuid } from '../../lib/uuid.js'
import { DEFAULT_STREAMS, type Streams } from '../streams/streams.js'
import type { AttachmentDraft, EmailDraft, RecipientKind, SendEmailInput } from './email.types.js'

export interface ValidationLimits {
  maxRecipients: number
  maxMessageBytes: number
  /** The configured streams (the built-in two when absent). */
  streams?: Streams
}

/** The stream a send names, checked against the configured ones; `transactional` when absent. */
export function validateStream(value: unknown, streams: Streams, path: string, bad: Bad): string {
  if (value === undefined) return 'transactional'
  if (typeof value === 'string' && streams.has(value)) return value
  bad(path, `must be one of the configured streams: ${streams.names.join(', ')}`)
  return 'transactional'
}

/**
 * Headers Hikyaku writes itself, or that receivers trust as written by a relay or a verifier
 * (trace, resending, authentication results, signatures); letting callers set them would forge
 * or break the message.
 */
export const PROTECTED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'subject',
  'reply-to',
  'sender',
  'message-id',
  'date',
  'dkim-signature',
  'domainkey-signature',
  'authentication-results',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
  'mime-version',
  'return-path',
  'received',
])

/** Whole families: `Resent-From`, `ARC-Seal`, … and our own option headers. */
export const PROTECTED_HEADER_PREFIXES = ['resent-', 'arc-', 'x-hikyaku-']

export const isProtectedHeader = (name: string): boolean => {
  const lower = name.toLowerCase()
  return PROTECTED_HEADERS.has(lower) || PROTECTED_HEADER_PREFIXES.some((prefix) => lower.startsWith(prefix))
}

const MAX_TAGS = 10
/** Reply-To names where answers go, not who receives the message: a handful is plenty. */
export const MAX_REPLY_TO = 50
const MAX_SCHEDULE_AHEAD_MS = 30 * 86_400_000
const HEADER_NAME_RE = /^[\x21-\x39\x3b-\x7e]{1,76}$/
const TAG_RE = /^[A-Za-z0-9_-]{1,256}$/
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/
const CONTENT_TYPE_RE = /^[\w.+-]+\/[\w.+-]+$/
const CONTENT_ID_RE = /^<?[\x21-\x3b\x3d\x3f-\x7e]{1,250}>?$/
const CRLF_RE = /[\r\n]/

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

// The checks below look only at values of the right type: a field of the wrong type is reported
// by the schema, and the remaining fields are still checked, so one answer lists every problem.
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
/** An address as sent, with the JSON Pointer its problems are reported at. */
interface AddressItem {
  path: string
  text: string
}
// Paths keep the index the caller sent, so a mistake is reported where it is even when an
// earlier item is of the wrong type.
const addressItems = (field: string, value: unknown): AddressItem[] =>
  Array.isArray(value)
    ? value.flatMap((v, i) => (typeof v === 'string' ? [{ path: `/${field}/${i}`, text: v }] : []))
    : typeof value === 'string'
      ? [{ path: `/${field}`, text: value }]
      : []
const stringEntries = (v: unknown): Record<string, string> =>
  isRecord(v) ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')) : {}

/** Validates a send request and returns the draft to store; throws 422/413 listing every problem. */
export function validateSendInput(input: SendEmailInput, limits: ValidationLimits, now = new Date()): EmailDraft {
  const { draft, details } = inspectSendInput(input, limits, now)
  if (!draft) throw validationFailed(details)
  return draft
}

/**
 * Checks everything JSON Schema cannot (addresses, header safety, base64, time ranges, size) and
 * reports every problem at once, each with the JSON Pointer of the field to fix. Tolerates any
 * input shape, so it can run beside a failed schema check.
 */
export function inspectSendInput(raw: unknown, limits: ValidationLimits, now = new Date()): { draft?: EmailDraft; details: ErrorDetail[] } {
  const input = (isRecord(raw) ? raw : {}) as Record<string, unknown>
  const details: ErrorDetail[] = []
  const bad = (path: string, message: string) => details.push({ path, message })
  findUnstorableText(input, '', bad)

  const mailbox = ({ path, text }: AddressItem): Mailbox | undefined => {
    const parsed = parseMailbox(text)
    if (!parsed.ok) bad(path, `invalid address: ${parsed.reason}`)
    return parsed.ok ? parsed.mailbox : undefined
  }

  const fromText = str(input.from)
  const from = fromText === undefined ? undefined : mailbox({ path: '/from', text: fromText })

  // Counted before anything is parsed: a body may carry thousands of long addresses, and parsing
  // them all only to refuse the request would let one caller hold the event loop. Over a cap, only
  // the first addresses up to the cap are parsed (in to, cc, bcc order), so that their mistakes are
  // still listed with the count; the rest are never looked at.
  const toItems = addressItems('to', input.to)
  const ccItems = addressItems('cc', input.cc)
  const bccItems = addressItems('bcc', input.bcc)
  const replyToItems = addressItems('reply_to', input.reply_to)
  const given = toItems.length + ccItems.length + bccItems.length
  if (given === 0) bad('/to', 'at least one recipient is required in to, cc or bcc')
  if (given > limits.maxRecipients) bad('/to', `at most ${limits.maxRecipients} recipients in to, cc and bcc together (got ${given})`)
  if (replyToItems.length > MAX_REPLY_TO) bad('/reply_to', `at most ${MAX_REPLY_TO} addresses (got ${replyToItems.length})`)

  let budget = limits.maxRecipients
  const recipientMailboxes = (items: AddressItem[]): Mailbox[] => {
    const parsed = items.slice(0, budget)
    budget -= parsed.length
    return parsed.flatMap((item) => mailbox(item) ?? [])
  }
  const to = recipientMailboxes(toItems)
  const cc = recipientMailboxes(ccItems)
  const bcc = recipientMailboxes(bccItems)
  const replyTo = replyToItems.slice(0, MAX_REPLY_TO).flatMap((item) => mailbox(item) ?? [])

  const recipients = dedupeRecipients([
    ...to.map((m) => ({ address: m.address, kind: 'to' as RecipientKind })),
    ...cc.map((m) => ({ address: m.address, kind: 'cc' as RecipientKind })),
    ...bcc.map((m) => ({ address: m.address, kind: 'bcc' as RecipientKind })),
  ])

  const subject = str(input.subject)
  if (subject !== undefined && CRLF_RE.test(subject)) bad('/subject', 'must not contain line breaks (CR or LF)')
  if (input.text === undefined && input.html === undefined) bad('/text', 'provide text, html or both')

  const headers = validateHeaders(stringEntries(input.headers), bad)
  const tags = validateTags(
    isRecord(input.tags) ? stringEntries(input.tags) : {},
    isRecord(input.tags) ? Object.keys(input.tags).length : 0,
    bad,
  )
  const attachments = (Array.isArray(input.attachments) ? input.attachments : []).flatMap((a, i) =>
    isRecord(a) && typeof a.filename === 'string' && typeof a.content === 'string'
      ? (validateAttachment(a as AttachmentInput, `/attachments/${i}`, bad) ?? [])
      : [],
  )
  const scheduledAt = validateSchedule(str(input.scheduled_at), now, bad)
  const stream = validateStream(input.stream, limits.streams ?? DEFAULT_STREAMS, '/stream', bad)
  const campaign = str(input.campaign)
  if (input.campaign !== undefined && (campaign === undefined || !isUuid(campaign))) bad('/campaign', 'must be a campaign id (a UUID)')

  if (details.length > 0 || !from || subject === undefined) return { details }

  const draft: EmailDraft = {
    from,
    fromHeader: formatMailbox(from),
    toHeader: to.map(formatMailbox),
    ccHeader: cc.map(formatMailbox),
    replyTo: replyTo.map(formatMailbox),
    recipients,
    subject,
    text: str(input.text),
    html: str(input.html),
    headers,
    attachments,
    tags,
    stream,
    scheduledAt,
    sizeBytes: 0,
    campaignId: campaign?.toLowerCase(),
  }
  draft.sizeBytes = estimateEncodedSize(draft)
  checkEncodedSize(draft.sizeBytes, limits.maxMessageBytes)
  return { draft, details }
}

/**
 * NUL characters and unpaired UTF-16 surrogates cannot be stored or sent as text; they are
 * refused where they occur, with their path, instead of failing deep in the database.
 */
function findUnstorableText(value: unknown, path: string, bad: Bad, depth = 0): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) bad(path, 'must not contain NUL (\\u0000) characters')
    else if (!value.isWellFormed()) bad(path, 'must be valid Unicode (it has an unpaired surrogate)')
  } else if (value !== null && typeof value === 'object' && depth < 4) {
    for (const [key, v] of Object.entries(value)) {
      if (!key.isWellFormed() || key.includes('\u0000')) bad(path, 'has a key that is not valid Unicode')
      findUnstorableText(v, `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, bad, depth + 1)
    }
  }
}

export function dedupeRecipients(all: Array<{ address: string; kind: RecipientKind }>) {
  const seen = new Set<string>()
  return all.filter((r) => {
    const key = r.address.toLowerCase()
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

export type Bad = (path: string, message: string) => void

function validateHeaders(headers: Record<string, string>, bad: Bad): Record<string, string> {
  for (const [name, value] of Object.entries(headers)) {
    const path = `/headers/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`
    if (!HEADER_NAME_RE.test(name)) bad(path, 'header names are 1-76 printable ASCII characters without ":"')
    else if (isProtectedHeader(name)) {
      bad(path, `"${name}" is set by Hikyaku and cannot be overridden; use the matching field instead`)
    }
    if (CRLF_RE.test(value)) bad(path, 'header values must not contain line breaks (CR or LF)')
    else if (value.length > 998) bad(path, 'header values are limited to 998 characters')
  }
  return headers
}

export function validateTags(tags: Record<string, string>, given: number, bad: Bad): Record<string, string> {
  if (given > MAX_TAGS) bad('/tags', `at most ${MAX_TAGS} tags (got ${given})`)
  for (const [key, value] of Object.entries(tags)) {
    if (!TAG_RE.test(key)) bad(`/tags/${key}`, 'tag names use letters, digits, "_" and "-" (1-256 characters)')
    if (!TAG_RE.test(value)) bad(`/tags/${key}`, 'tag values use letters, digits, "_" and "-" (1-256 characters)')
  }
  return tags
}

type AttachmentInput = NonNullable<SendEmailInput['attachments']>[number]

function validateAttachment(a: AttachmentInput, path: string, bad: Bad): AttachmentDraft | undefined {
  const problems = [
    CRLF_RE.test(a.filename) && [`${path}/filename`, 'must not contain line breaks (CR or LF)'],
    !BASE64_RE.test(a.content.replace(/\s+/g, '')) || a.content.replace(/\s+/g, '').length % 4 !== 0
      ? [`${path}/content`, 'must be base64-encoded (RFC 4648, with padding)']
      : false,
    a.content_type !== undefined &&
      !CONTENT_TYPE_RE.test(a.content_type) && [`${path}/content_type`, 'must be a MIME type like "application/pdf"'],
    a.content_id !== undefined &&
      !CONTENT_ID_RE.test(a.content_id) && [`${path}/content_id`, 'must be printable ASCII without spaces, like "logo@example"'],
  ].filter(Boolean) as Array<[string, string]>
  for (const [p, m] of problems) bad(p, m)
  if (problems.length > 0) return undefined
  return {
    filename: a.filename,
    contentType: a.content_type ?? detectMimeType(a.filename),
    contentId: a.content_id?.replace(/^<|>$/g, ''),
    content: Buffer.from(a.content, 'base64'),
  }
}

export function validateSchedule(value: string | undefined, now: Date, bad: Bad): Date | undefined {
  if (value === undefined) return undefined
  const at = new Date(value)
  if (!RFC3339_RE.test(value) || Number.isNaN(at.getTime())) {
    bad('/scheduled_at', 'must be an RFC 3339 date-time such as 2026-01-01T09:00:00Z')
    return undefined
  }
  if (at.getTime() - now.getTime() > MAX_SCHEDULE_AHEAD_MS) {
    bad('/scheduled_at', 'can be at most 30 days ahead')
    return undefined
  }
  // A time already past simply means "now".
  return at.getTime() > now.getTime() ? at : undefined
}

/** Bytes of the RFC 5322 message once encoded: base64 and quoted-printable overheads included. */
/** A message whose encoded size (estimated) passes the limit: 413, saying what to do. `what` names what made it so. */
export function checkEncodedSize(size: number, limit: number, what = 'The encoded message'): void {
  if (size <= limit) return
  throw new AppError(
    'payload_too_large',
    `${what} would be about ${size} bytes; the limit is ${limit}. Send smaller attachments or link to them.`,
  )
}

export function estimateEncodedSize(draft: Pick<EmailDraft, 'subject' | 'text' | 'html' | 'headers' | 'attachments'>): number {
  const headerBytes =
    1024 +
    Buffer.byteLength(draft.subject) * 2 +
    Object.entries(draft.headers).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v) + 4, 0)
  const bodyBytes = Math.ceil((Buffer.byteLength(draft.text ?? '') + Buffer.byteLength(draft.html ?? '')) * 1.1)
  const attachmentBytes = draft.attachments.reduce((n, a) => n + Math.ceil((a.content.length * 4) / 3) * (78 / 76) + 300, 0)
  return Math.ceil(headerBytes + bodyBytes + attachmentBytes)
}
