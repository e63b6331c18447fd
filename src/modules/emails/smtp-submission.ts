import { createHash } from 'node:crypto'
import { type AddressObject, simpleParser } from 'mailparser'
import { formatMailbox, type Mailbox, type ParseResult, parseAddress } from '../../lib/address.js'
import { type ErrorDetail, validationFailed } from '../../lib/errors.js'
import { bareCrBefore, type HeaderField, parseHeader, prependFields, removeFields } from '../../lib/raw-message.js'
import { isUuid, uuidv7 } from '../../lib/uuid.js'
import { DEFAULT_STREAMS, type Streams } from '../streams/streams.js'
import type { EmailDraft, RecipientKind } from './email.types.js'
import { dedupeRecipients, validateSchedule, validateStream, validateTags } from './email.validate.js'
import { MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency.js'

/**
 * A message submitted over SMTP becomes the same draft the HTTP API builds, but its bytes are
 * kept: only Bcc and Hikyaku's option headers are removed (and Message-ID/Date added when the
 * client left them out, as a submission server may), and everything else is relayed as is.
 */
export interface SmtpEnvelope {
  from: string
  to: string[]
}

export interface SmtpSubmission {
  draft: EmailDraft
  /** The bytes to store and relay. */
  raw: Buffer
  messageId: string
  idempotency?: { key: string; fingerprint: string }
  /** The visible From: header, which receivers show and DMARC aligns on, independent of MAIL FROM. */
  headerFrom: HeaderFrom
}

export interface HeaderFrom {
  /** How many From: fields the message has (RFC 5322: exactly one). */
  fields: number
  /** Every mailbox the (first) field names, each parsed as an address; a group or a bare name is a failure. */
  mailboxes: ParseResult[]
}

const OPTION_PREFIX = 'x-hikyaku-'
/** Headers that vary between retries of the same message by a client; not part of its identity. */
const VOLATILE = new Set(['date', 'message-id', 'received'])

export async function draftFromSmtp(
  raw: Buffer,
  envelope: SmtpEnvelope,
  options: { now?: Date; streams?: Streams } = {},
): Promise<SmtpSubmission> {
  const now = options.now ?? new Date()
  const header = parseHeader(raw)
  // A bare CR is no line break here but becomes one on the way out (the relay writes CRLF), so
  // `X-Foo: a\rFrom: other@example` would be checked as one field and relayed as two. Refused
  // rather than rewritten: the bytes accepted are the bytes relayed. (In the body it is harmless.)
  if (bareCrBefore(raw, header.headerEnd) !== -1) {
    throw validationFailed([{ path: '/headers', message: 'contains a CR not followed by LF; end every header line with CRLF' }])
  }
  const details: ErrorDetail[] = []
  const bad = (path: string, message: string) => details.push({ path, message })
  const option = (name: string) => header.fields.find((f) => f.key === `${OPTION_PREFIX}${name}`)?.value

  const tags = parseTagsHeader(option('tags'), bad)
  const stream = validateStream(option('stream')?.toLowerCase(), options.streams ?? DEFAULT_STREAMS, '/headers/X-Hikyaku-Stream', bad)
  const scheduledAt = validateSchedule(option('scheduled-at'), now, (_p, m) => bad('/headers/X-Hikyaku-Scheduled-At', m))
  const campaign = option('campaign')
  if (campaign !== undefined && !isUuid(campaign))
    bad('/headers/X-Hikyaku-Campaign', 'must be the id of a campaign of this account (POST /v1/campaigns)')
  const idempotencyKey = option('idempotency-key')
  if (idempotencyKey !== undefined && (idempotencyKey === '' || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
    bad('/headers/X-Hikyaku-Idempotency-Key', `must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} characters`)
  }
  const from = parseAddress(envelope.from)
  if (!from.ok) bad('/envelope/from', from.reason)
  if (details.length > 0 || !from.ok) throw validationFailed(details)

  const kept = removeFields(raw, header, (f) => f.key === 'bcc' || f.key.startsWith(OPTION_PREFIX))
  const added: Array<[string, string]> = []
  let messageId = header.fields.find((f) => f.key === 'message-id')?.value
  if (!messageId) {
    messageId = `<${uuidv7(now.getTime())}@${from.mailbox.domain}>`
    added.push(['Message-ID', messageId])
  }
  if (!header.fields.some((f) => f.key === 'date')) added.push(['Date', now.toUTCString().replace('GMT', '+0000')])
  const stored = prependFields(kept, added, header.eol)

  const shown = await parseShownHeaders(raw.subarray(0, header.headerEnd))
  const draft: EmailDraft = {
    from: from.mailbox,
    fromHeader: shown.from ?? from.mailbox.address,
    toHeader: shown.to.map((m) => m.text),
    ccHeader: shown.cc.map((m) => m.text),
    replyTo: [],
    recipients: recipientsWithKinds(envelope.to, shown),
    subject: shown.subject ?? '',
    text: undefined,
    html: undefined,
    headers: {},
    attachments: [],
    tags,
    stream,
    scheduledAt,
    sizeBytes: stored.length,
    ...(campaign ? { campaignId: campaign.toLowerCase() } : {}),
  }
  return {
    draft,
    raw: stored,
    messageId,
    idempotency: idempotencyKey ? { key: idempotencyKey, fingerprint: smtpFingerprint(raw, header.fields, envelope) } : undefined,
    headerFrom: { fields: header.fields.filter((f) => f.key === 'from').length, mailboxes: shown.fromMailboxes },
  }
}

/** `X-Hikyaku-Tags: campaign=spring, tier=gold`, checked with the API's tag rules. */
function parseTagsHeader(value: string | undefined, bad: (path: string, message: string) => void): Record<string, string> {
  if (value === undefined || value.trim() === '') return {}
  const tags: Record<string, string> = {}
  const pairs = value.split(',').map((p) => p.trim())
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) {
      bad('/headers/X-Hikyaku-Tags', `"${pair}" is not name=value`)
      continue
    }
    tags[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim()
  }
  return validateTags(tags, pairs.length, (_p, m) => bad('/headers/X-Hikyaku-Tags', m))
}

interface ShownHeaders {
  from?: string
  fromMailboxes: ParseResult[]
  subject?: string
  to: Array<{ text: string; address: string }>
  cc: Array<{ text: string; address: string }>
}

/** Decodes From/To/Cc/Subject (RFC 2047 or raw UTF-8) for the API's view of the message. */
async function parseShownHeaders(headerBytes: Buffer): Promise<ShownHeaders> {
  const parsed = await simpleParser(Buffer.concat([headerBytes, Buffer.from('\r\n\r\n')]), {
    skipHtmlToText: true,
    skipTextToHtml: true,
    skipImageLinks: true,
    skipTextLinks: true,
  })
  const list = (value: AddressObject | AddressObject[] | undefined) =>
    (Array.isArray(value) ? value : value ? [value] : [])
      .flatMap((group) => group.value)
      .filter((m) => m.address)
      .map((m) => ({
        text: displayText(formatMailbox({ name: m.name || undefined, address: m.address as string, domain: '' })),
        address: m.address as string,
      }))
  const fromEntries = (Array.isArray(parsed.from) ? parsed.from : parsed.from ? [parsed.from] : []).flatMap((group) => group.value)
  return {
    from: list(parsed.from)[0]?.text,
    fromMailboxes: fromEntries.map((m) =>
      m.group ? { ok: false, reason: `"${m.name}" is a group, not a mailbox` } : parseAddress(m.address ?? ''),
    ),
    subject: parsed.subject === undefined ? undefined : displayText(parsed.subject),
    to: list(parsed.to),
    cc: list(parsed.cc),
  }
}

/**
 * Decoded header text is only for the API's view (the bytes relayed are untouched), so what the
 * database cannot store as text (NUL, unpaired surrogates from broken encoded-words) is dropped.
 */
const displayText = (text: string): string => text.replaceAll('\u0000', '').toWellFormed()

/** Envelope recipients are the recipients; those in neither To nor Cc were Bcc. */
function recipientsWithKinds(envelopeTo: string[], shown: ShownHeaders) {
  const inHeader = (list: ShownHeaders['to'], address: string) => list.some((m) => m.address.toLowerCase() === address.toLowerCase())
  const mailboxes = envelopeTo.map((to) => parseAddress(to)).filter((r): r is { ok: true; mailbox: Mailbox } => r.ok)
  return dedupeRecipients(
    mailboxes.map(({ mailbox }) => {
      const kind: RecipientKind = inHeader(shown.to, mailbox.address) ? 'to' : inHeader(shown.cc, mailbox.address) ? 'cc' : 'bcc'
      return { address: mailbox.address, kind }
    }),
  )
}

/** The identity of a submission for idempotency: envelope and bytes, minus what retries change. */
export function smtpFingerprint(raw: Buffer, fields: HeaderField[], envelope: SmtpEnvelope): string {
  const hash = createHash('sha256').update(`${envelope.from}\n${envelope.to.join(',')}\n`)
  let at = 0
  for (const f of fields) {
    if (!VOLATILE.has(f.key)) continue
    hash.update(raw.subarray(at, f.start))
    at = f.end
  }
  return hash.update(raw.subarray(at)).digest('hex')
}
