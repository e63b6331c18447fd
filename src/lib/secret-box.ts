import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/**
 * AES-256-GCM for secrets at rest (DKIM private keys), keyed from HIKYAKU_SECRET through HKDF
 * with a purpose label, so one configured secret yields independent keys per use. The output is
 * `v1.<iv>.<tag>.<ciphertext>` in base64url; tampering fails authentication on open.
 */
const VERSION = 'v1'

export function createSecretBox(secret: string, purpose: string) {
  if (!secret) throw new Error('a secret is required to encrypt data at rest (HIKYAKU_SECRET)')
  const key = Buffer.from(hkdfSync('sha256', secret, 'hikyaku', purpose, 32))
  return {
    seal(plaintext: string): string {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return [VERSION, iv, cipher.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.')
    },
    open(sealed: string): string {
      const [version, iv, tag, body] = sealed.split('.')
      if (version !== VERSION || !iv || !tag || body === undefined) throw new Error('not a sealed value')
      // A full-length tag only: a truncated one would weaken the authentication.
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: 16 })
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
    },
  }
}

export type SecretBox = ReturnType<typeof createSecretBox>
