import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/**
 * AES-256-GCM for secrets at rest (DKIM private keys), keyed from HIKYAKU_SECRET through HKDF
 * with a purpose label, so one configured secret yields independent keys per use.
 *
 * Every value is bound to where it is stored: `seal` and `open` take the same AAD string (for
 * example `account:<id>|domain:<id>|purpose:dkim-rsa`), so a sealed value copied to another row
 * or tenant does not open there. The output is `v2.<iv>.<tag>.<ciphertext>` in base64url;
 * tampering, another secret or another AAD fail authentication on open.
 *
 * `v1` values (no AAD) are refused by `open`; `openLegacy` reads them once, for the migration
 * that re-seals them as `v2` (`hikyaku migrate`).
 */
const VERSION = 'v2'
const LEGACY_VERSION = 'v1'

export function createSecretBox(secret: string, purpose: string) {
  if (!secret) throw new Error('a secret is required to encrypt data at rest (HIKYAKU_SECRET)')
  const key = Buffer.from(hkdfSync('sha256', secret, 'hikyaku', purpose, 32))

  const decrypt = (sealed: string, version: string, aad: string | undefined): string => {
    const [v, iv, tag, body, ...extra] = sealed.split('.')
    if (v !== version || !iv || !tag || body === undefined || extra.length > 0) {
      throw new Error(v === LEGACY_VERSION ? 'a v1 sealed value: re-seal it with "hikyaku migrate"' : 'not a sealed value')
    }
    // A full-length tag only: a truncated one would weaken the authentication.
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 })
    if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
  }

  return {
    /** Encrypts `plaintext` bound to `aad` (what the value belongs to); open it with the same `aad`. */
    seal(plaintext: string, aad: string): string {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
      cipher.setAAD(Buffer.from(aad, 'utf8'))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return [VERSION, iv, cipher.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.')
    },

    /** The plaintext of a `v2` value sealed with this `aad`; throws for anything else. */
    open(sealed: string, aad: string): string {
      return decrypt(sealed, VERSION, aad)
    },

    /** True for a value in the old format, without AAD, that only `openLegacy` reads. */
    isLegacy(sealed: string): boolean {
      return sealed.startsWith(`${LEGACY_VERSION}.`)
    },

    /** The plaintext of a `v1` value: only for re-sealing it as `v2`. */
    openLegacy(sealed: string): string {
      return decrypt(sealed, LEGACY_VERSION, undefined)
    },
  }
}

export type SecretBox = ReturnType<typeof createSecretBox>
