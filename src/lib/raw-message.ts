import { isAscii } from 'node:buffer'

/**
 * Byte-exact work on RFC 5322 messages as received over SMTP: find the header fields, drop
 * some of them, add others, and leave every other byte exactly as it was (C1 is about bytes:
 * what was accepted is what is relayed, and what a DKIM signature will cover).
 */
export interface HeaderField {
  /** Field name as written. */
  name: string
  /** Lower-cased name, for lookups. */
  key: string
  /** Unfolded value, decoded as UTF-8, without the leading space. */
  value: string
  /** Byte range of the whole field, continuation lines and line ending included. */
  start: number
  end: number
}

export interface ParsedHeader {
  fields: HeaderField[]
  /** Offset of the blank line that ends the header section (or the message length if none). */
  headerEnd: number
  /** The line ending the message uses, so added fields match it. */
  eol: '\r\n' | '\n'
}

const SPACE = 0x20
const TAB = 0x09
const LF = 0x0a
const CR = 0x0d

/** Splits the header section into fields. Lines may end in CRLF or a bare LF. */
export function parseHeader(raw: Buffer): ParsedHeader {
  const fields: HeaderField[] = []
  let pos = 0
  let current: { start: number; end: number } | undefined
  const eol: '\r\n' | '\n' = raw.indexOf('\r\n') !== -1 && raw.indexOf('\r\n') <= raw.indexOf('\n') ? '\r\n' : '\n'

  const close = () => {
    if (!current) return
    const text = raw.subarray(current.start, current.end).toString('utf8')
    const colon = text.indexOf(':')
    if (colon > 0) {
      const name = text.slice(0, colon).trim()
      const value = text
        .slice(colon + 1)
        .replace(/\r?\n(?=[ \t])/g, '')
        .replace(/\r?\n$/, '')
        .trim()
      fields.push({ name, key: name.toLowerCase(), value, start: current.start, end: current.end })
    }
    current = undefined
  }

  while (pos < raw.length) {
    const nl = raw.indexOf(LF, pos)
    const lineEnd = nl === -1 ? raw.length : nl + 1
    const isBlank = raw[pos] === LF || (raw[pos] === CR && raw[pos + 1] === LF)
    if (isBlank) {
      close()
      return { fields, headerEnd: pos, eol }
    }
    if ((raw[pos] === SPACE || raw[pos] === TAB) && current) {
      current.end = lineEnd
    } else {
      close()
      current = { start: pos, end: lineEnd }
    }
    pos = lineEnd
  }
  close()
  return { fields, headerEnd: raw.length, eol }
}

/**
 * The offset of the first CR before `end` that is not followed by LF, or -1. Such a CR is no line
 * break to `parseHeader`, but nodemailer's SMTP client (like other relays) turns it into CRLF on
 * the wire: in the header section it would hide a field inside another one.
 */
export function bareCrBefore(raw: Buffer, end: number): number {
  for (let at = raw.indexOf(CR); at !== -1 && at < end; at = raw.indexOf(CR, at + 1)) {
    if (raw[at + 1] !== LF) return at
  }
  return -1
}

/** The message without the fields `drop` selects; all other bytes untouched. */
export function removeFields(raw: Buffer, header: ParsedHeader, drop: (field: HeaderField) => boolean): Buffer {
  const removed = header.fields.filter(drop)
  if (removed.length === 0) return raw
  const parts: Buffer[] = []
  let at = 0
  for (const field of removed) {
    parts.push(raw.subarray(at, field.start))
    at = field.end
  }
  parts.push(raw.subarray(at))
  return Buffer.concat(parts)
}

/** Prepends fields (name, value) at the top of the header, in the message's own line ending. */
export function prependFields(raw: Buffer, fields: Array<[string, string]>, eol: string): Buffer {
  if (fields.length === 0) return raw
  const text = fields.map(([name, value]) => `${name}: ${value.replace(/[\r\n]+/g, ' ')}${eol}`).join('')
  return Buffer.concat([Buffer.from(text, 'utf8'), raw])
}

/** True when the message has bytes outside 7-bit ASCII (it then needs 8BITMIME to be relayed). */
export const hasEightBit = (raw: Buffer): boolean => !isAscii(raw)
