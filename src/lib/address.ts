import { domainToASCII } from 'node:url'

/**
 * Mailbox parsing for what callers send us: `addr@example.com` or `Display Name <addr@example.com>`.
 * Strict where it matters for safety (no CR/LF, no control characters, RFC 5321 lengths) and
 * friendly where users expect it (IDN domains are accepted and converted to their A-label form).
 */
export interface Mailbox {
  name?: string
  /** Envelope form: local part as given, domain in ASCII (punycode). */
  address: string
  domain: string
}

export type ParseResult = { ok: true; mailbox: Mailbox } | { ok: false; reason: string }

// RFC 5322 atext, plus UTF-8 (RFC 6531/6532: internationalised local parts, relayed with SMTPUTF8).
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\u0080-\\uFFFF-]+"
const DOT_ATOM_RE = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`)
const QUOTED_LOCAL_RE = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/
const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/
// Tabs are allowed in display names; every other control character is not.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f]/
// Unicode line and paragraph separators would split a display name in some readers; an address
// may still carry them in its UTF-8 local part, where the syntax check decides.
const LINE_SEPARATOR_RE = /[\u2028\u2029]/
const UNBALANCED = 'has unbalanced angle brackets; use "Name <user@example.com>"'

export function parseMailbox(input: string): ParseResult {
  if (/[\r\n]/.test(input)) return fail('must not contain line breaks (CR or LF)')
  if (CONTROL_RE.test(input)) return fail('must not contain control characters')
  const trimmed = input.trim()
  if (trimmed === '') return fail('is empty')

  let name: string | undefined
  let addr = trimmed
  if (trimmed.endsWith('>')) {
    // `Name <addr>`: the address is what lies between the last "<" and the final ">". Found with
    // index scans rather than a regex: `/^(.*?)\s*<([^<>]*)>$/` backtracked quadratically on long
    // runs of spaces, and callers send up to thousands of 998-character addresses.
    const open = trimmed.lastIndexOf('<')
    if (open === -1 || trimmed.indexOf('>', open) !== trimmed.length - 1) return fail(UNBALANCED)
    const rawName = trimmed.slice(0, open).trimEnd()
    if (LINE_SEPARATOR_RE.test(rawName)) return fail('must not contain line breaks (U+2028 or U+2029) in the display name')
    name = unquote(rawName) || undefined
    addr = trimmed.slice(open + 1, -1).trim()
  } else if (trimmed.includes('<') || trimmed.includes('>')) {
    return fail(UNBALANCED)
  }
  const result = parseAddress(addr)
  if (!result.ok) return result
  return { ok: true, mailbox: name === undefined ? result.mailbox : { ...result.mailbox, name } }
}

export function parseAddress(addr: string): ParseResult {
  const at = addr.lastIndexOf('@')
  if (at <= 0 || at === addr.length - 1) return fail(`"${addr}" is not an email address (expected user@example.com)`)
  const local = addr.slice(0, at)
  const rawDomain = addr.slice(at + 1)
  if (!DOT_ATOM_RE.test(local) && !QUOTED_LOCAL_RE.test(local)) {
    return fail(`"${addr}" has an invalid local part before the @`)
  }
  if (Buffer.byteLength(local) > 64) return fail(`"${addr}" has a local part longer than 64 octets`)
  const domain = normaliseDomain(rawDomain)
  if (!domain) return fail(`"${addr}" has an invalid domain "${rawDomain}"`)
  const address = `${local}@${domain}`
  if (address.length > 254) return fail(`"${addr}" is longer than 254 characters`)
  return { ok: true, mailbox: { address, domain } }
}

/** Lower-cased A-label form of a domain, or undefined when it is not a valid host name. */
export function normaliseDomain(raw: string): string | undefined {
  if (raw === '' || raw.endsWith('.')) return undefined
  const ascii = domainToASCII(raw.toLowerCase())
  if (!ascii || ascii.length > 253) return undefined
  const labels = ascii.split('.')
  if (labels.length < 2 || !labels.every((label) => LABEL_RE.test(label))) return undefined
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return undefined
  return ascii
}

/** Header form of a mailbox, with the display name quoted when it needs to be. */
export function formatMailbox(mailbox: Mailbox): string {
  if (!mailbox.name) return mailbox.address
  const name = /^[\w !#$%&'*+/=?^`{|}~.-]*$/.test(mailbox.name) ? mailbox.name : `"${mailbox.name.replace(/(["\\])/g, '\\$1')}"`
  return `${name} <${mailbox.address}>`
}

function unquote(name: string): string {
  return name.length >= 2 && name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1).replace(/\\(.)/g, '$1') : name
}

const fail = (reason: string): ParseResult => ({ ok: false, reason })

/** The domain of the address in a From header value (`Name <a@b.example>` or `a@b.example`), lower-cased. */
export function fromDomain(fromHeader: string): string {
  const end = fromHeader.lastIndexOf('>')
  const start = end >= 0 ? fromHeader.lastIndexOf('<', end) : -1
  const address = start >= 0 ? fromHeader.slice(start + 1, end) : fromHeader
  const at = address.lastIndexOf('@')
  return at >= 0
    ? address
        .slice(at + 1)
        .trim()
        .toLowerCase()
    : ''
}
