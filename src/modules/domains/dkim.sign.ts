import { createHash, createPrivateKey, sign } from 'node:crypto'
import { type HeaderField, parseHeader } from '../../lib/raw-message.js'

/**
 * DKIM signing (RFC 6376, Ed25519 per RFC 8463) over the exact bytes that will be sent:
 * c=relaxed/relaxed, one DKIM-Signature field per key, prepended. The message itself is never
 * rewritten, so what a verifier canonicalizes is what we hashed.
 *
 * Canonicalization works on latin1 strings: one char per byte, so 8-bit UTF-8 passes through
 * untouched and only the ASCII whitespace and line breaks that RFC 6376 talks about are changed.
 */
export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256'

export interface DkimKey {
  domain: string
  selector: string
  algorithm: DkimAlgorithm
  /** PEM (PKCS#8). */
  privateKey: string
}

export interface SignOptions {
  /** More header names to sign when present, e.g. Feedback-ID. */
  extraHeaders?: string[]
  /** Signing time (t=); now by default. */
  now?: Date
}

/** Signed when present; each instance counts, so none can be added or removed unnoticed. */
const SIGNED_HEADERS = [
  'from',
  'sender',
  'reply-to',
  'to',
  'cc',
  'subject',
  'date',
  'message-id',
  'in-reply-to',
  'references',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'list-unsubscribe',
  'list-unsubscribe-post',
]

const MAX_LINE = 78

export function signMessage(raw: Buffer, keys: DkimKey[], options: SignOptions = {}): Buffer {
  if (keys.length === 0) return raw
  const header = parseHeader(raw)
  const names = headerList(header.fields, options.extraHeaders ?? [])
  const signedHeaders = canonicalHeaders(raw, header.fields, names)
  const bodyHash = createHash('sha256')
    .update(relaxedBody(bodyOf(raw, header.headerEnd)), 'latin1')
    .digest('base64')
  const timestamp = Math.floor((options.now ?? new Date()).getTime() / 1000)

  const fields = keys.map((key) => {
    const tags = [
      'v=1',
      `a=${key.algorithm}`,
      'c=relaxed/relaxed',
      `d=${key.domain}`,
      `s=${key.selector}`,
      `t=${timestamp}`,
      `h=${names.join(':')}`,
      `bh=${bodyHash}`,
    ]
    const unsigned = foldTags(tags, header.eol)
    // The field being created is hashed last, with b= empty and without its line break (§3.7).
    const data = signedHeaders + relaxedHeader(unsigned)
    const signature = signData(key, Buffer.from(data, 'latin1'))
    return `${unsigned}${foldSignature(signature, header.eol)}${header.eol}`
  })
  return Buffer.concat([Buffer.from(fields.join(''), 'latin1'), raw])
}

/**
 * The h= list: each signed name once per instance in the message, From once more (oversigned),
 * so a second From cannot be added above the signed one without breaking the signature.
 */
function headerList(fields: HeaderField[], extra: string[]): string[] {
  const wanted = [...new Set([...SIGNED_HEADERS, ...extra.map((name) => name.toLowerCase())])]
  const names: string[] = []
  for (const name of wanted) {
    const count = fields.filter((f) => f.key === name).length + (name === 'from' ? 1 : 0)
    for (let i = 0; i < count; i++) names.push(name)
  }
  return names
}

/** Signed fields in h= order, relaxed; repeated names take instances from the bottom up (§5.4.2). */
function canonicalHeaders(raw: Buffer, fields: HeaderField[], names: string[]): string {
  const used = new Map<string, number>()
  let out = ''
  for (const name of names) {
    const instances = fields.filter((f) => f.key === name)
    const n = used.get(name) ?? 0
    used.set(name, n + 1)
    const field = instances[instances.length - 1 - n]
    // A name listed more often than it occurs (the oversigned From) contributes nothing.
    if (field) out += `${relaxedHeader(raw.subarray(field.start, field.end).toString('latin1'))}\r\n`
  }
  return out
}

/** §3.4.2: lower-case name, unfold, runs of WSP to one space, no WSP around the colon or at the end. */
export function relaxedHeader(field: string): string {
  const colon = field.indexOf(':')
  const name = field
    .slice(0, colon)
    .replace(/[ \t]+$/, '')
    .toLowerCase()
  const value = field
    .slice(colon + 1)
    .replace(/\r?\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '')
  return `${name}:${value}`
}

function bodyOf(raw: Buffer, headerEnd: number): string {
  if (headerEnd >= raw.length) return ''
  const blankLine = raw[headerEnd] === 0x0d ? 2 : 1
  return raw.subarray(headerEnd + blankLine).toString('latin1')
}

/**
 * §3.4.4: WSP runs to one space, no WSP at line ends, no empty lines at the end, CRLF line
 * endings (lines sent with bare LF go out as CRLF); an empty body stays empty.
 */
export function relaxedBody(body: string): string {
  const lines = body.split('\n')
  if (body.endsWith('\n')) lines.pop()
  const canonical = lines.map((line) =>
    line
      .replace(/\r$/, '')
      .replace(/[ \t]+/g, ' ')
      .replace(/ $/, ''),
  )
  while (canonical.length > 0 && canonical[canonical.length - 1] === '') canonical.pop()
  return canonical.length === 0 ? '' : `${canonical.join('\r\n')}\r\n`
}

/** rsa-sha256 signs the data; ed25519-sha256 signs its SHA-256 digest (RFC 8463 §3). */
function signData(key: DkimKey, data: Buffer): string {
  const privateKey = createPrivateKey(key.privateKey)
  if (key.algorithm === 'rsa-sha256') return sign('sha256', data, privateKey).toString('base64')
  return sign(null, createHash('sha256').update(data).digest(), privateKey).toString('base64')
}

/**
 * `DKIM-Signature: <tags>` folded at tag boundaries (and between h= names), ending with a line
 * ` b=` that the signature is appended to. Folding whitespace is where relaxed canonicalization
 * puts a single space, and DKIM ignores it inside these values.
 */
function foldTags(tags: string[], eol: string): string {
  const lines: string[] = []
  let line = 'DKIM-Signature:'
  const add = (piece: string, glue: string) => {
    if (line.length + glue.length + piece.length > MAX_LINE) {
      lines.push(line)
      line = ` ${piece}`
    } else {
      line += glue + piece
    }
  }
  for (const tag of tags) {
    if (tag.startsWith('h=')) {
      const parts = tag.split(':')
      parts.forEach((part, i) => {
        add(i < parts.length - 1 ? `${part}:` : `${part};`, i === 0 ? ' ' : '')
      })
    } else {
      add(`${tag};`, ' ')
    }
  }
  lines.push(line, ' b=')
  return lines.join(eol)
}

/** The b= value, continuing the ` b=` line, in chunks that keep every line within 78 chars. */
function foldSignature(signature: string, eol: string): string {
  const first = MAX_LINE - ' b='.length
  const chunks = [signature.slice(0, first)]
  for (let i = first; i < signature.length; i += MAX_LINE - 1) chunks.push(signature.slice(i, i + MAX_LINE - 1))
  return chunks.join(`${eol} `)
}
