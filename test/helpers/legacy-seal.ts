import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto'

/**
 * A value in the format earlier releases of the secret box wrote, `v1.<iv>.<tag>.<ciphertext>`
 * without AAD: the input of the re-sealing migration. The box itself no longer writes it.
 */
export function sealV1(secret: string, purpose: string, plaintext: string): string {
  const key = Buffer.from(hkdfSync('sha256', secret, 'hikyaku', purpose, 32))
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return ['v1', iv, cipher.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.')
}
