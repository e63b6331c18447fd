import { signedTag, tagMatches, uuidFromHex } from '../../lib/signed-tag.js'
import { isUuid } from '../../lib/uuid.js'

/**
 * Signed return paths (VERP, DESIGN.md §11): `bounces+<delivery>-<tag>@<bounce domain>`, where
 * `<delivery>` is the delivery id as 32 lower-case hex digits and `<tag>` a truncated HMAC of it.
 * A bounce names the delivery it answers, and nobody without HIKYAKU_SECRET can forge a return
 * path that touches another delivery.
 *
 * The key comes from HIKYAKU_SECRET through HKDF with a purpose label, the same derivation as the
 * secret box, so this key is independent of every other key made from the secret.
 */
const PREFIX = 'bounces+'
const HEX_LENGTH = 32
// 13 base32 characters carry 65 bits of the MAC: enough that guessing a tag is hopeless at any
// rate an SMTP listener would take, and short enough that the local part stays at 54 characters.
const TAG_LENGTH = 13
const LOCAL_LENGTH = PREFIX.length + HEX_LENGTH + 1 + TAG_LENGTH
// RFC 5321 §4.5.3.1.1: a local part is at most 64 octets; anything longer is not ours.
const MAX_LOCAL_LENGTH = 64
const HEX_RE = /^[0-9a-f]{32}$/
const TAG_RE = /^[a-z2-7]{13}$/
const PURPOSE = 'verp/v1'
const COMPLAINT_LOCAL = 'fbl'

const tagOf = (secret: string, hex: string): string => signedTag(secret, PURPOSE, `delivery:${hex}`, TAG_LENGTH)

/** The return path for one delivery (a UUID) on the account's bounce domain. */
export function returnPath(secret: string, deliveryId: string, domain: string): string {
  if (!isUuid(deliveryId)) throw new Error(`a delivery id must be a UUID, got "${deliveryId}"`)
  const hex = deliveryId.replaceAll('-', '').toLowerCase()
  return `${PREFIX}${hex}-${tagOf(secret, hex)}@${domain}`
}

/** Splits `local@domain`, tolerating the angle brackets of a Return-Path header and spaces. */
function splitAddress(address: string): { local: string; domain: string } | undefined {
  let value = address.trim()
  if (value.startsWith('<') && value.endsWith('>')) value = value.slice(1, -1).trim()
  const at = value.lastIndexOf('@')
  if (at <= 0 || at === value.length - 1) return undefined
  return { local: value.slice(0, at), domain: value.slice(at + 1) }
}

/**
 * The delivery a return path names, only when its tag verifies; undefined for anything else.
 * Case-insensitive, because some MTAs change the case of the local part on the way back.
 */
export function parseReturnPath(secret: string, address: string): { deliveryId: string } | undefined {
  if (address.length > 1_000) return undefined
  const parts = splitAddress(address)
  if (!parts || parts.local.length > MAX_LOCAL_LENGTH || parts.local.length !== LOCAL_LENGTH) return undefined
  const local = parts.local.toLowerCase()
  if (!local.startsWith(PREFIX) || local[PREFIX.length + HEX_LENGTH] !== '-') return undefined
  const hex = local.slice(PREFIX.length, PREFIX.length + HEX_LENGTH)
  const tag = local.slice(PREFIX.length + HEX_LENGTH + 1)
  if (!HEX_RE.test(hex) || !TAG_RE.test(tag)) return undefined
  if (!tagMatches(secret, PURPOSE, `delivery:${hex}`, tag)) return undefined
  return { deliveryId: uuidFromHex(hex) }
}

/** Where feedback-loop (ARF) complaints for a bounce domain are sent. */
export const complaintAddress = (domain: string): string => `${COMPLAINT_LOCAL}@${domain}`

/**
 * True for `fbl@<domain>` (any case); with `domains`, only for one of those domains (compared
 * case-insensitively).
 */
export function isComplaintAddress(address: string, domains?: readonly string[]): boolean {
  if (address.length > 1_000) return false
  const parts = splitAddress(address)
  if (!parts || parts.local.toLowerCase() !== COMPLAINT_LOCAL) return false
  if (!domains) return true
  const domain = parts.domain.toLowerCase()
  return domains.some((d) => d.toLowerCase() === domain)
}
