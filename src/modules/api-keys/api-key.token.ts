import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Key format `hk_<keyId>_<secret>`. Both parts use an alphabet without `_`, so the token splits
 * unambiguously; keyId is public (it names the key in lists and logs), the secret is never stored.
 */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const KEY_ID_LENGTH = 12
const SECRET_LENGTH = 40
const TOKEN_RE = /^hk_([A-Za-z0-9]{12})_([A-Za-z0-9]{40})$/

function randomString(length: number): string {
  // 62 does not divide 256: reject bytes past the last full multiple to keep the draw uniform.
  const limit = 256 - (256 % ALPHABET.length)
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit && out.length < length) out += ALPHABET[byte % ALPHABET.length]
    }
  }
  return out
}

export interface GeneratedKey {
  token: string
  keyId: string
  secretHash: Buffer
}

export function generateKey(): GeneratedKey {
  const keyId = randomString(KEY_ID_LENGTH)
  const secret = randomString(SECRET_LENGTH)
  return { token: `hk_${keyId}_${secret}`, keyId, secretHash: hashSecret(secret) }
}

export function parseToken(token: string): { keyId: string; secret: string } | undefined {
  const match = TOKEN_RE.exec(token)
  return match ? { keyId: match[1] as string, secret: match[2] as string } : undefined
}

export const hashSecret = (secret: string): Buffer => createHash('sha256').update(secret).digest()

export function secretMatches(secret: string, storedHash: Uint8Array): boolean {
  const actual = hashSecret(secret)
  return storedHash.length === actual.length && timingSafeEqual(actual, storedHash)
}

/** What a listing may show of a key: enough to recognise it, never enough to use it. */
export const displayHint = (keyId: string): string => `hk_${keyId}_…`
