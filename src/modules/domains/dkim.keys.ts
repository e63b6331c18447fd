import { generateKeyPair } from 'node:crypto'
import type { DkimAlgorithm } from './dkim.sign.js'

/**
 * DKIM key pairs and the TXT values that publish them. RSA keys are published as the base64
 * SPKI DER (what `p=` has always meant); Ed25519 keys as the bare 32-byte key (RFC 8463 §4.2).
 */
export interface DkimKeyPair {
  algorithm: DkimAlgorithm
  /** PEM (PKCS#8); sealed before it is stored. */
  privateKey: string
  /** The p= value. */
  publicKey: string
}

const RSA_BITS = 2048
// An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte prefix and the 32-byte key.
const ED25519_KEY_BYTES = 32

/** Generates off the event loop: an RSA-2048 pair takes long enough to stall requests. */
export function generateDkimKey(algorithm: DkimAlgorithm): Promise<DkimKeyPair> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicDer: Buffer, privatePem: string) => {
      if (err) return reject(err)
      const publicKey = algorithm === 'rsa-sha256' ? publicDer : publicDer.subarray(publicDer.length - ED25519_KEY_BYTES)
      resolve({ algorithm, privateKey: privatePem, publicKey: publicKey.toString('base64') })
    }
    const encoding = {
      publicKeyEncoding: { type: 'spki', format: 'der' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    } as const
    if (algorithm === 'rsa-sha256') generateKeyPair('rsa', { modulusLength: RSA_BITS, ...encoding }, done)
    else generateKeyPair('ed25519', encoding, done)
  })
}

/** The TXT record value to publish at `<selector>._domainkey.<domain>`. */
export const dkimTxtValue = (algorithm: DkimAlgorithm, publicKey: string): string =>
  `v=DKIM1; k=${algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519'}; p=${publicKey}`

/** The p= value of a published DKIM record, whitespace removed; undefined when it has none. */
export function publishedKey(txt: string): string | undefined {
  for (const tag of txt.split(';')) {
    const eq = tag.indexOf('=')
    if (eq > 0 && tag.slice(0, eq).trim().toLowerCase() === 'p') return tag.slice(eq + 1).replace(/\s+/g, '')
  }
  return undefined
}

export type SealedKeyPurpose = 'dkim-rsa' | 'dkim-ed25519'

/**
 * What a sealed private key is bound to (the secret box's AAD): its account, its domain row and
 * which of the row's keys it is. A key copied to another row or tenant does not open there.
 */
export const sealedKeyAad = (domain: { accountId: string; id: string }, purpose: SealedKeyPurpose): string =>
  `account:${domain.accountId}|domain:${domain.id}|purpose:${purpose}`

/** The secret box purpose (HKDF label) DKIM private keys are sealed under. */
export const DKIM_BOX_PURPOSE = 'dkim'
