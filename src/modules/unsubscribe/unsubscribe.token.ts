import { signedTag, tagMatches, uuidFromHex } from '../../lib/signed-tag.js'
import { isUuid } from '../../lib/uuid.js'

/**
 * One-click unsubscribe tokens (RFC 8058): `<recipient>-<tag>`, the recipient id as 32 lower-case
 * hex digits and a truncated HMAC of it, under a key of its own made from HIKYAKU_SECRET. The
 * token names exactly one recipient of one message, and nobody without the secret can make one
 * that names another. Lower case only, so it survives the mailto form too (some MTAs change the
 * case of a local part), where `unsubscribe+<token>` stays within the 64 octets of a local part.
 */
const HEX_LENGTH = 32
// 16 base32 characters carry 80 bits of the MAC: a link cannot be guessed.
const TAG_LENGTH = 16
const TOKEN_RE = /^[0-9a-f]{32}-[a-z2-7]{16}$/
const PURPOSE = 'unsubscribe/v1'
const MAILTO_PREFIX = 'unsubscribe+'

const tagOf = (secret: string, hex: string): string => signedTag(secret, PURPOSE, `recipient:${hex}`, TAG_LENGTH)

/** The token of one recipient (a UUID). */
export function unsubscribeToken(secret: string, recipientId: string): string {
  if (!isUuid(recipientId)) throw new Error(`a recipient id must be a UUID, got "${recipientId}"`)
  const hex = recipientId.replaceAll('-', '').toLowerCase()
  return `${hex}-${tagOf(secret, hex)}`
}

/** The recipient a token names, only when its tag verifies (any case); undefined for anything else. */
export function readUnsubscribeToken(secret: string, token: string): string | undefined {
  if (token.length !== HEX_LENGTH + 1 + TAG_LENGTH) return undefined
  const lower = token.toLowerCase()
  if (!TOKEN_RE.test(lower)) return undefined
  const [hex = '', tag = ''] = lower.split('-')
  if (!tagMatches(secret, PURPOSE, `recipient:${hex}`, tag)) return undefined
  return uuidFromHex(hex)
}

/** `unsubscribe+<token>@<domain>`: the mailto form, received by the inbound listener. */
export const unsubscribeAddress = (secret: string, recipientId: string, domain: string): string =>
  `${MAILTO_PREFIX}${unsubscribeToken(secret, recipientId)}@${domain}`

/** The recipient an `unsubscribe+<token>@…` address names, when its token verifies. */
export function parseUnsubscribeAddress(secret: string, address: string): string | undefined {
  if (address.length > 1_000) return undefined
  const at = address.lastIndexOf('@')
  const local = (at > 0 ? address.slice(0, at) : '').replace(/^</, '').trim().toLowerCase()
  if (!local.startsWith(MAILTO_PREFIX)) return undefined
  return readUnsubscribeToken(secret, local.slice(MAILTO_PREFIX.length))
}

/**
 * The two header fields of one-click unsubscribe for one recipient: the HTTPS link (POST
 * unsubscribes; GET only shows a confirmation) and, when the sending domain has a return-path
 * domain, a mailto on the inbound listener.
 */
export function unsubscribeHeaders(
  secret: string,
  recipientId: string,
  publicUrl: string,
  mailDomain: string | undefined,
): Array<[string, string]> {
  const url = `<${publicUrl}/unsubscribe/${unsubscribeToken(secret, recipientId)}>`
  const mailto = mailDomain ? `, <mailto:${unsubscribeAddress(secret, recipientId, mailDomain)}?subject=unsubscribe>` : ''
  return [
    ['List-Unsubscribe', `${url}${mailto}`],
    ['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'],
  ]
}
