import { storableText } from '../../lib/text.js'
import { type BounceCategory, bounceCategory } from './bounce.classify.js'
import { type OriginalInfo, readOriginal } from './report.fields.js'

/**
 * Best-effort reading of bounces that are not RFC 3464 reports: qmail's "Hi. This is the
 * qmail-send program", Exim's "Mail delivery failed", old Gmail and Exchange plain-text notices.
 * They share a shape: a few lines of prose, the failed addresses on lines of their own (`<addr>:`,
 * `addr`), the remote server's reply somewhere below, then a copy of the original message after a
 * marker line. Nothing here is trusted for more than a guess; the caller stores it as
 * `unrecognized` with the guess attached.
 */
export interface BounceGuess {
  category: BounceCategory
  status?: string
  code?: number
  recipients?: string[]
  diagnostic?: string
}

const MAX_TEXT = 64 * 1024
const MAX_LINES = 2_000
const MAX_RECIPIENTS = 100

// Lines after which the returned original message starts.
const COPY_MARKERS = [
  '--- below this line is a copy of the message', // qmail
  '------ this is a copy of the message', // Exim
  '----- original message -----', // Gmail (plain-text notices)
  '--- original message follows', // Sendmail-like MTAs
  'original message follows',
  '----- the header of the original message is following',
  '----- transcript of session follows', // Sendmail: the transcript comes before the copy
]
const BOUNCE_SUBJECTS = [
  'undeliver',
  'delivery status notification',
  'delivery failure',
  'delivery failed',
  'delivery has failed',
  'failure notice',
  'returned mail',
  'returned to sender',
  'non-delivery',
  'could not be delivered',
]
const BOUNCE_BODY = [
  'qmail-send program',
  "wasn't able to deliver",
  'could not be delivered',
  'delivery to the following recipient',
  'permanent error',
  'permanent failure',
  'failed permanently',
  'undeliverable',
  'delivery has failed',
]
const FROM_DAEMON = ['mailer-daemon', 'postmaster', 'mail delivery']

// `550 5.1.1 …` / `550-5.1.1 …` anywhere on a line, not inside a dotted number such as an IP.
const REPLY_RE = /(?<![\d.])([45]\d\d)[ -]+(?:([45]\.\d{1,3}\.\d{1,3})(?!\.?\d))?/
const STATUS_RE = /(?<![\d.])([45]\.\d{1,3}\.\d{1,3})(?!\.?\d)/
// A line that is only an address: `<addr>:`, `<addr>`, `addr` (each segment without spaces).
const ADDRESS_LINE_RE = /^<?([^\s<>@:]{1,64}@[^\s<>@:]{1,255})>?:?$/
// Postfix-like notices: `<addr>: host … said: 550 …` on one line.
const ADDRESS_LEAD_RE = /^<([^\s<>@:]{1,64}@[^\s<>@:]{1,255})>:\s/

const includesAny = (text: string, words: readonly string[]): boolean => words.some((w) => text.includes(w))

/**
 * A guess at what a non-standard bounce says, plus the original message's identifiers found in
 * its copied header; `guess` is undefined when nothing marks the message as a bounce at all (an
 * out-of-office reply, spam sent to the bounce address).
 */
export function guessBounce(input: { subject?: string; from?: string; text: string }): { guess?: BounceGuess } & OriginalInfo {
  const text = input.text.slice(0, MAX_TEXT)
  const lines = text.split('\n', MAX_LINES)
  let copyAt = lines.length
  for (let i = 0; i < lines.length; i++) {
    const lower = lines[i]!.trim().toLowerCase()
    if (lower.startsWith('-') || lower.startsWith('original message')) {
      if (includesAny(lower, COPY_MARKERS)) {
        copyAt = i
        break
      }
    }
  }
  const notice = lines.slice(0, copyAt)
  const original = copyAt < lines.length ? readOriginal(lines.slice(copyAt + 1).join('\n')) : {}

  const subject = (input.subject ?? '').slice(0, 500).toLowerCase()
  const from = (input.from ?? '').slice(0, 500).toLowerCase()
  const noticeText = notice.join('\n').toLowerCase()
  const looksLikeBounce =
    includesAny(subject, BOUNCE_SUBJECTS) || includesAny(from, FROM_DAEMON) || includesAny(noticeText.slice(0, 8_000), BOUNCE_BODY)
  if (!looksLikeBounce) return original

  const recipients = new Set<string>()
  let diagnostic: string | undefined
  let code: number | undefined
  let status: string | undefined
  for (const raw of notice) {
    const line = raw.trim()
    if (line.length > 1_000) continue
    const address = ADDRESS_LINE_RE.exec(line)?.[1] ?? ADDRESS_LEAD_RE.exec(line)?.[1]
    if (address && recipients.size < MAX_RECIPIENTS) recipients.add(address)
    if (diagnostic === undefined) {
      const reply = REPLY_RE.exec(line)
      if (reply) {
        code = Number(reply[1])
        status = reply[2]
        diagnostic = line.slice(reply.index)
      }
    }
  }
  // A status code on its own (`Status: 5.1.1`, `#5.1.1`), when no full reply was found.
  if (!status) {
    for (const line of notice) {
      const match = line.length <= 1_000 ? STATUS_RE.exec(line) : null
      if (match) {
        status = match[1]
        break
      }
    }
  }
  const category = bounceCategory({ status, code, text: diagnostic ?? noticeText })
  const guess: BounceGuess = { category }
  if (status) guess.status = status
  if (code !== undefined) guess.code = code
  if (recipients.size) guess.recipients = [...recipients].map((r) => storableText(r, 320))
  if (diagnostic) guess.diagnostic = storableText(diagnostic, 1_000)
  return { guess, ...original }
}
