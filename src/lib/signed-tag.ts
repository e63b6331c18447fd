import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'

/**
 * Short MAC tags for values that travel in addresses and links (signed return paths, unsubscribe
 * tokens): an HMAC under a key derived from HIKYAKU_SECRET with HKDF and a purpose label, so each
 * purpose's key is independent of every other key made from the secret; written as lower-case
 * base32, which survives MTAs that change the case of a local part.
 */
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

const keys = new Map<string, Buffer>()

function keyFor(secret: string, purpose: string): Buffer {
  if (!secret) throw new Error(`a secret is required to sign ${purpose} (HIKYAKU_SECRET)`)
  const id = `${purpose}\u0000${secret}`
  let key = keys.get(id)
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', secret, 'hikyaku', purpose, 32))
    // A few secrets and purposes per process in practice; the cap only guards against a caller looping over many.
    if (keys.size >= 16) keys.clear()
    keys.set(id, key)
  }
  return key
}

/** Lower-case RFC 4648 base32 (no padding) of the first `length` 5-bit groups of `bytes`. */
function base32(bytes: Buffer, length: number): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5 && out.length < length) {
      out += BASE32[(value >> (bits - 5)) & 31]
      bits -= 5
    }
    if (out.length >= length) break
  }
  return out
}

/** The tag of `message` for `purpose` (its HKDF label, e.g. `verp/v1`), `length` base32 characters. */
export const signedTag = (secret: string, purpose: string, message: string, length: number): string =>
  base32(createHmac('sha256', keyFor(secret, purpose)).update(message).digest(), length)

/** True when `tag` is the tag of `message`, compared in constant time. */
export function tagMatches(secret: string, purpose: string, message: string, tag: string): boolean {
  const expected = Buffer.from(signedTag(secret, purpose, message, tag.length))
  const given = Buffer.from(tag)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

/** A UUID from its 32 hex digits. */
export const uuidFromHex = (hex: string): string =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
