import type { DkimAlgorithm } from './dkim.sign.js'
import type { SendingHostCheck } from './sending-host.js'

export type RecordType = 'TXT' | 'MX' | 'CNAME'
export type RecordPurpose = 'spf' | 'dkim' | 'dkim-ed25519' | 'dmarc' | 'return-path'
/** `pending` until checked, and again when a check could not get an answer (`error` says why). */
export type RecordStatus = 'pending' | 'found' | 'missing' | 'mismatched'

/** A DNS record the domain owner publishes, with the verdict of the last check. */
export interface DnsRecord {
  type: RecordType
  name: string
  value: string
  purpose: RecordPurpose
  status: RecordStatus
  /** What DNS answered at that name when it was not what we expect. */
  seen?: string[]
  /** Why the last check could not decide (SERVFAIL, timeout). */
  error?: string
}

/** `failed`: the last check found the SPF or DKIM record missing or different. */
export type DomainStatus = 'pending' | 'verified' | 'failed'

export interface DomainView {
  id: string
  name: string
  status: DomainStatus
  dkimSelector: string
  returnPathDomain: string
  records: DnsRecord[]
  verifiedAt: Date | null
  checkedAt: Date | null
  createdAt: Date
}

/** A domain just verified: its view, with what is worth fixing that does not decide verification. */
export interface VerifiedDomain extends DomainView {
  warnings: string[]
  /** The sending host's self-check (absent when it could not be made). */
  sendingHost?: SendingHostCheck
}

/** A decrypted signing key, as the DKIM signer takes it. */
export interface SigningKey {
  domain: string
  selector: string
  algorithm: DkimAlgorithm
  privateKey: string
}
