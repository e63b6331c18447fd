import { parseAddressHeader } from 'mailparser'
import { storableText } from '../../lib/text.js'

/**
 * Reading the `Name: value` blocks that reports are made of: the fields of a
 * `message/delivery-status` part (RFC 3464), a `message/feedback-report` part (RFC 5965) and the
 * header of a returned original message. One hand-written line scanner serves all three: the
 * input is capped, every line is looked at once, and no regex runs over more than one line.
 */

/** One block of fields: names lower-cased, folded lines joined, every occurrence kept in order. */
export type FieldGroup = Map<string, string[]>

const MAX_BLOCK_CHARS = 256 * 1024
const MAX_GROUPS = 1_001
const MAX_VALUE_CHARS = 4_000
// A field name is printable ASCII without spaces or colons (RFC 5322 §3.6.8).
const FIELD_NAME_RE = /^[!-9;-~]+$/

/**
 * Splits `text` into groups of fields separated by blank lines (the per-message and
 * per-recipient groups of a DSN). With `headerOnly`, stops at the first blank line: the header of
 * a message, whose body is never read.
 */
export function parseFieldGroups(text: string, opts: { headerOnly?: boolean } = {}): FieldGroup[] {
  const groups: FieldGroup[] = []
  let group: FieldGroup = new Map()
  let last: { values: string[]; index: number } | undefined
  const close = () => {
    if (group.size > 0) groups.push(group)
    group = new Map()
    last = undefined
  }
  for (const rawLine of text.slice(0, MAX_BLOCK_CHARS).split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine
    if (line.trim() === '') {
      // A blank line before any field is padding, not the end of a header.
      if (opts.headerOnly && (group.size > 0 || groups.length > 0)) break
      close()
      if (groups.length >= MAX_GROUPS) break
      continue
    }
    if (line[0] === ' ' || line[0] === '\t') {
      // A folded continuation of the previous field (RFC 5322 §2.2.3).
      if (last) {
        const value = last.values[last.index]!
        if (value.length < MAX_VALUE_CHARS) last.values[last.index] = `${value} ${line.trim()}`.slice(0, MAX_VALUE_CHARS)
      }
      continue
    }
    const colon = line.indexOf(':')
    const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : ''
    if (!name || !FIELD_NAME_RE.test(name)) {
      // Not a field: skipped, and not something a later folded line may extend.
      last = undefined
      continue
    }
    const values = group.get(name) ?? []
    values.push(
      line
        .slice(colon + 1)
        .trim()
        .slice(0, MAX_VALUE_CHARS),
    )
    group.set(name, values)
    last = { values, index: values.length - 1 }
  }
  close()
  return groups
}

/** The first value of a field, made safe to store; undefined when absent or empty. */
export function field(group: FieldGroup | undefined, name: string, max = 1_000): string | undefined {
  const value = group?.get(name)?.[0]
  return value ? storableText(value, max) : undefined
}

/** Every value of a field, made safe to store. */
export function fields(group: FieldGroup | undefined, name: string, max = 1_000): string[] {
  return (group?.get(name) ?? []).filter((v) => v !== '').map((v) => storableText(v, max))
}

/**
 * The value after a type prefix: `rfc822; user@example.com` → `user@example.com`,
 * `smtp; 550 5.1.1 …` → `550 5.1.1 …`, `dns; mx.example.com` → `mx.example.com`. A value without
 * a prefix is returned as it is.
 */
export function withoutType(value: string): string {
  const semi = value.indexOf(';')
  if (semi <= 0) return value.trim()
  const type = value.slice(0, semi).trim()
  return /^[a-z0-9][a-z0-9.+-]*$/i.test(type) ? value.slice(semi + 1).trim() : value.trim()
}

// RFC 6533 §3: `utf-8` address types write non-ASCII as \x{HEX}.
const UNITEXT_RE = /\\x\{([0-9a-f]{1,6})\}/gi

/** An address from a DSN or ARF field: type prefix, angle brackets and unitext escapes removed. */
export function addressOf(value: string | undefined): string | undefined {
  if (!value) return undefined
  let address = withoutType(value)
  if (address.startsWith('<') && address.endsWith('>')) address = address.slice(1, -1).trim()
  address = address.replace(UNITEXT_RE, (sequence, hex: string) => {
    const code = Number.parseInt(hex, 16)
    return code <= 0x10ffff ? String.fromCodePoint(code) : sequence
  })
  return address ? storableText(address, 320) : undefined
}

/** A Message-ID in its `<id@host>` form, the form emails keep theirs in. */
export function messageIdOf(value: string | undefined): string | undefined {
  if (!value) return undefined
  const open = value.indexOf('<')
  const close = open === -1 ? -1 : value.indexOf('>', open)
  const id = close > open ? value.slice(open + 1, close).trim() : value.trim()
  return id && !/\s/.test(id) ? storableText(`<${id}>`, 998) : undefined
}

/** Header names of a returned original message that are kept in a report, by name. */
export const KEPT_ORIGINAL_HEADERS = ['message-id', 'return-path', 'x-hikyaku-delivery', 'from', 'subject', 'date'] as const
export type OriginalHeaders = Partial<Record<(typeof KEPT_ORIGINAL_HEADERS)[number], string>>

/** What the header of a returned original message says about the message we sent. */
export interface OriginalInfo {
  originalMessageId?: string
  /** Return-Path (or a copy of the envelope sender some receivers add): carries the VERP address. */
  originalReturnPath?: string
  originalTo?: string[]
  originalHeaders?: OriginalHeaders
}

// Where receivers put the envelope sender they saw; the first one present wins.
const RETURN_PATH_HEADERS = ['return-path', 'x-original-return-path', 'x-envelope-from', 'x-original-sender']

/** Reads the header of a returned message (`message/rfc822` or `text/rfc822-headers`). */
export function readOriginal(text: string): OriginalInfo {
  const header = parseFieldGroups(text, { headerOnly: true })[0]
  if (!header) return {}
  const info: OriginalInfo = {}
  const messageId = messageIdOf(field(header, 'message-id'))
  if (messageId) info.originalMessageId = messageId
  for (const name of RETURN_PATH_HEADERS) {
    const address = addressOf(field(header, name))
    if (address) {
      info.originalReturnPath = address
      break
    }
  }
  const to = addressesOf(fields(header, 'to'))
  if (to.length) info.originalTo = to
  const kept: OriginalHeaders = {}
  for (const name of KEPT_ORIGINAL_HEADERS) {
    const value = field(header, name)
    if (value) kept[name] = value
  }
  if (Object.keys(kept).length) info.originalHeaders = kept
  return info
}

/** The addresses of `To:` header values (display names and groups dropped), at most 100. */
export function addressesOf(values: string[]): string[] {
  if (!values.length) return []
  const out: string[] = []
  try {
    for (const entry of parseAddressHeader(values, { flatten: true, decodePunycode: false }).value) {
      if (entry.address) out.push(storableText(entry.address, 320))
      if (out.length >= 100) break
    }
  } catch {
    // An address header the parser cannot read says nothing we need.
  }
  return out
}
