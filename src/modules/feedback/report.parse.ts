import { type Attachment, type ParsedMail, type SimpleParserOptions, simpleParser } from 'mailparser'
import { storableText } from '../../lib/text.js'
import { type BounceCategory, bounceCategory } from './bounce.classify.js'
import {
  addressOf,
  type FieldGroup,
  field,
  fields,
  type OriginalInfo,
  parseFieldGroups,
  readOriginal,
  withoutType,
} from './report.fields.js'
import { type BounceGuess, guessBounce } from './report.guess.js'

/**
 * Reads a report that arrived at a return path or the complaint address (DESIGN.md §11): a DSN
 * (RFC 3464), a complaint (ARF, RFC 5965), or anything else as `unrecognized` with a best guess.
 * Never throws: the caller keeps the raw bytes whatever this says, so a report that cannot be
 * read is still `unrecognized` with the reason in `error`.
 *
 * mailparser reads the MIME structure (encodings, charsets, nesting, its own limits on header
 * size and part count); the report fields themselves are read by `report.fields.ts`. Only the
 * first MAX_REPORT_BYTES are read, and a time budget bounds the whole parse.
 */
export const MAX_REPORT_BYTES = 1024 * 1024
const DEFAULT_TIMEOUT_MS = 10_000

export interface DsnRecipient {
  finalRecipient?: string
  originalRecipient?: string
  /** failed | delayed | delivered | relayed | expanded, or whatever the reporting MTA wrote (lower-cased). */
  action: string
  /** Enhanced status code, `5.1.1`. */
  status?: string
  /** The remote reply without its type prefix: `550 5.1.1 <x@example.net>: … User unknown`. */
  diagnostic?: string
  remoteMta?: string
  category: BounceCategory
}

interface Common extends OriginalInfo {
  /** The report's own Subject and From address. */
  subject?: string
  from?: string
  /** The input was longer than MAX_REPORT_BYTES and only its start was read. */
  truncated?: true
}

export interface DsnReport extends Common {
  kind: 'dsn'
  recipients: DsnRecipient[]
  reportingMta?: string
  arrivalDate?: string
}

export interface ArfReport extends Common {
  kind: 'arf'
  /** abuse | fraud | virus | other | not-spam | auth-failure, lower-cased; `unknown` when missing. */
  feedbackType: string
  userAgent?: string
  /** RFC 5965 allows several. Often absent or redacted (Microsoft JMRP). */
  originalRcptTo?: string[]
  originalMailFrom?: string
  arrivalDate?: string
  sourceIp?: string
  reportedDomain?: string[]
}

export interface UnrecognizedReport extends Common {
  kind: 'unrecognized'
  guess?: BounceGuess
  /** Why the input could not be parsed at all. */
  error?: string
}

export type ParsedReport = DsnReport | ArfReport | UnrecognizedReport

const PARSER_OPTIONS: SimpleParserOptions = {
  // Report parts stay parts of their own: by default mailparser folds a delivery-status part into
  // the text, and parses a returned message marked `inline` (Microsoft's complaints) into the
  // text too, keeping only four of its header fields.
  keepDeliveryStatus: true,
  ignoreEmbedded: true,
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  skipImageLinks: true,
  checksumAlgo: false,
  // A report has a handful of parts; these bound the work a hostile one can cause.
  maxChildNodes: 200,
  maxHeadSize: 256 * 1024,
}
const DSN_TYPES = ['message/delivery-status', 'message/global-delivery-status']
const ARF_TYPE = 'message/feedback-report'
const ORIGINAL_TYPES = ['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers']
const MAX_RECIPIENTS = 1_000
const MAX_GUESS_TEXT = 64 * 1024

export async function parseReport(raw: Buffer, opts: { timeoutMs?: number } = {}): Promise<ParsedReport> {
  const truncated = raw.length > MAX_REPORT_BYTES
  const extra: Pick<Common, 'truncated'> = truncated ? { truncated: true } : {}
  let timer: NodeJS.Timeout | undefined
  try {
    // The budget frees the caller; the parse itself runs on to its end, which the input cap and
    // mailparser's limits keep short.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('parsing took too long')), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS)
      timer.unref()
    })
    const mail = await Promise.race([simpleParser(raw.subarray(0, MAX_REPORT_BYTES), PARSER_OPTIONS), deadline])
    return { ...interpret(mail), ...extra }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    return { kind: 'unrecognized', error: storableText(message || 'unreadable message', 500), ...extra }
  } finally {
    clearTimeout(timer)
  }
}

// Report fields and returned headers are read from the start of a part only (report.fields.ts
// reads at most 256 KiB of any block), so a returned message's large body is never decoded.
const text = (attachment: Attachment): string => attachment.content.subarray(0, 256 * 1024).toString('utf8')

function interpret(mail: ParsedMail): ParsedReport {
  const common: Common = {}
  if (mail.subject) common.subject = storableText(mail.subject, 500)
  const from = mail.from?.value.find((a) => a.address)?.address
  if (from) common.from = storableText(from, 320)

  const reportType = reportTypeOf(mail)
  const byType = (types: readonly string[]) => mail.attachments.find((a) => types.includes(a.contentType.toLowerCase()))
  const dsnPart = byType(DSN_TYPES)
  const arfPart = byType([ARF_TYPE])
  const originalPart = byType(ORIGINAL_TYPES)
  const original = originalPart ? readOriginal(text(originalPart)) : {}

  // The report-type decides when a message somehow carries both kinds of part.
  const dsn = () => readDsn(dsnPart, original)
  const arf = () => readArf(arfPart, original)
  const report = reportType === 'feedback-report' ? (arf() ?? dsn()) : (dsn() ?? arf())
  if (report) return { ...common, ...report }
  const body = (mail.text || htmlText(mail.html)).slice(0, MAX_GUESS_TEXT)
  const guessed = guessBounce({ subject: mail.subject, from: mail.from?.text, text: body })
  return { kind: 'unrecognized', ...common, ...original, ...guessed }
}

function readDsn(part: Attachment | undefined, original: OriginalInfo): DsnReport | undefined {
  if (!part) return undefined
  const groups = parseFieldGroups(text(part))
  // The first group is the per-message one, unless a sloppy generator left out the blank line
  // that separates it from the first recipient.
  const perMessage = groups[0]
  const recipients = groups
    .filter((g) => g.has('final-recipient') || g.has('action') || g.has('original-recipient'))
    .slice(0, MAX_RECIPIENTS)
    .map(readRecipient)
  if (!recipients.length) return undefined
  const report: DsnReport = { kind: 'dsn', recipients, ...original }
  const reportingMta = field(perMessage, 'reporting-mta')
  if (reportingMta) report.reportingMta = withoutType(reportingMta)
  const arrivalDate = field(perMessage, 'arrival-date')
  if (arrivalDate) report.arrivalDate = arrivalDate
  // Postfix names the envelope sender in its per-message fields: the VERP address even when the
  // returned headers are missing or were cut.
  const sender = addressOf(field(perMessage, 'x-postfix-sender'))
  if (!report.originalReturnPath && sender) report.originalReturnPath = sender
  return report
}

function readRecipient(group: FieldGroup): DsnRecipient {
  const diagnostic = field(group, 'diagnostic-code')
  const status = /^\s*([245]\.\d{1,3}\.\d{1,3})/.exec(field(group, 'status') ?? '')?.[1]
  const recipient: DsnRecipient = {
    action: (field(group, 'action', 100) ?? 'unknown').toLowerCase(),
    category: 'unknown',
  }
  const finalRecipient = addressOf(field(group, 'final-recipient'))
  if (finalRecipient) recipient.finalRecipient = finalRecipient
  const originalRecipient = addressOf(field(group, 'original-recipient'))
  if (originalRecipient) recipient.originalRecipient = originalRecipient
  if (status) recipient.status = status
  if (diagnostic) recipient.diagnostic = withoutType(diagnostic)
  const remoteMta = field(group, 'remote-mta')
  if (remoteMta) recipient.remoteMta = withoutType(remoteMta)
  recipient.category = bounceCategory({ status, text: recipient.diagnostic })
  return recipient
}

function readArf(part: Attachment | undefined, original: OriginalInfo): ArfReport | undefined {
  if (!part) return undefined
  const group = parseFieldGroups(text(part))[0]
  if (!group) return undefined
  const report: ArfReport = {
    kind: 'arf',
    feedbackType: (field(group, 'feedback-type', 100) ?? 'unknown').toLowerCase(),
    ...original,
  }
  const userAgent = field(group, 'user-agent')
  if (userAgent) report.userAgent = userAgent
  const rcptTo = fields(group, 'original-rcpt-to')
    .map((v) => addressOf(v))
    .filter((v): v is string => !!v)
  if (rcptTo.length) report.originalRcptTo = rcptTo
  const mailFrom = addressOf(field(group, 'original-mail-from'))
  if (mailFrom) report.originalMailFrom = mailFrom
  // RFC 5965 says Arrival-Date; Yahoo and older generators write Received-Date.
  const arrivalDate = field(group, 'arrival-date') ?? field(group, 'received-date')
  if (arrivalDate) report.arrivalDate = arrivalDate
  const sourceIp = field(group, 'source-ip', 100)
  if (sourceIp) report.sourceIp = sourceIp
  const reportedDomain = fields(group, 'reported-domain', 255)
  if (reportedDomain.length) report.reportedDomain = reportedDomain
  // The envelope sender the receiver saw, when the returned copy has no Return-Path.
  if (!report.originalReturnPath && mailFrom) report.originalReturnPath = mailFrom
  return report
}

/** The `report-type` parameter of the top-level Content-Type (`delivery-status`, `feedback-report`). */
function reportTypeOf(mail: ParsedMail): string | undefined {
  const line = mail.headerLines.find((h) => h.key === 'content-type')?.line.slice(0, 2_000)
  return line ? /;\s*report-type\s*=\s*"?([a-z0-9-]{1,64})/i.exec(line)?.[1]?.toLowerCase() : undefined
}

// Only for guessing at HTML-only notices: tags dropped, entities left; never shown to anyone.
const htmlText = (html: string | false | undefined): string => (html ? html.slice(0, MAX_GUESS_TEXT).replace(/<[^<>]{0,2000}>/g, ' ') : '')
