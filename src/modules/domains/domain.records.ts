import { isIPv6 } from 'node:net'
import { dkimTxtValue } from './dkim.keys.js'
import type { DnsRecord } from './domain.types.js'

/**
 * The DNS records a sending domain publishes: SPF at the domain, the DKIM key(s), a DMARC
 * starting policy, and the return-path (bounce) domain with its MX and SPF. Pure: the values
 * come from configuration and the domain's public keys.
 */
export interface RecordSettings {
  spfInclude: string | undefined
  spfIps: string[]
  /** Where bounces for return-path domains are received (BOUNCE_MX_HOST, else HELO_NAME). */
  bounceMxHost: string
}

export interface DomainKeys {
  name: string
  returnPathDomain: string
  selector: string
  rsaPublicKey: string
  ed25519PublicKey: string | null
}

/** Preference of the suggested return-path MX; there is only one host, so any value works. */
export const BOUNCE_MX_PREFERENCE = 10

/** Ed25519 keys live at their own selector: one selector name publishes one key. */
export const ed25519Selector = (selector: string): string => `${selector}-ed25519`

/** p=none: receivers reject nothing while the owner checks that all their mail is aligned. */
export const DMARC_STARTING_POLICY = 'v=DMARC1; p=none;'

export function spfValue(settings: Pick<RecordSettings, 'spfInclude' | 'spfIps'>): string {
  const mechanisms = [
    ...(settings.spfInclude ? [`include:${settings.spfInclude}`] : []),
    ...settings.spfIps.map((ip) => `${isIPv6(ip.split('/')[0] ?? '') ? 'ip6' : 'ip4'}:${ip}`),
  ]
  // With nothing configured, the domain's own A and MX hosts are the best guess at senders.
  return `v=spf1 ${(mechanisms.length > 0 ? mechanisms : ['a', 'mx']).join(' ')} ~all`
}

export const mxValue = (host: string, preference = BOUNCE_MX_PREFERENCE): string => `${preference} ${host}`

export function expectedRecords(domain: DomainKeys, settings: RecordSettings): DnsRecord[] {
  const spf = spfValue(settings)
  const record = (r: Omit<DnsRecord, 'status'>): DnsRecord => ({ ...r, status: 'pending' })
  return [
    record({ type: 'TXT', name: domain.name, value: spf, purpose: 'spf' }),
    record({
      type: 'TXT',
      name: `${domain.selector}._domainkey.${domain.name}`,
      value: dkimTxtValue('rsa-sha256', domain.rsaPublicKey),
      purpose: 'dkim',
    }),
    ...(domain.ed25519PublicKey
      ? [
          record({
            type: 'TXT',
            name: `${ed25519Selector(domain.selector)}._domainkey.${domain.name}`,
            value: dkimTxtValue('ed25519-sha256', domain.ed25519PublicKey),
            purpose: 'dkim-ed25519',
          }),
        ]
      : []),
    record({ type: 'TXT', name: `_dmarc.${domain.name}`, value: DMARC_STARTING_POLICY, purpose: 'dmarc' }),
    record({ type: 'MX', name: domain.returnPathDomain, value: mxValue(settings.bounceMxHost), purpose: 'return-path' }),
    record({ type: 'TXT', name: domain.returnPathDomain, value: spf, purpose: 'return-path' }),
  ]
}
