import { fromDomain } from '../../lib/address.js'

/**
 * A delivery is one (email, route) pair: `relay` for the upstream relay, or a recipient domain
 * for direct MX delivery (see shaping.ts for which one a domain takes). All of a delivery's
 * recipients go in one SMTP transaction.
 */
export const RELAY_ROUTE = 'relay'

/**
 * A sender, as holds name it (holds.ts): the account and its From domain. An account's domain has
 * its own DKIM keys, so another account's mail from the same domain may well pass where this one
 * failed. Empty when the From header has no domain.
 */
export function senderKey(email: { accountId: string; fromHeader: string }): string {
  const domain = fromDomain(email.fromHeader)
  return domain ? `${email.accountId}/${domain}` : ''
}

/** The sender a job names, for an MX delivery (a relay route has no holds). */
export const jobSender = (route: string, email: { accountId: string; fromHeader: string }): string | undefined =>
  route === RELAY_ROUTE ? undefined : senderKey(email) || undefined
