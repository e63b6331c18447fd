import { parseMailbox } from '../../lib/address.js'
import type { EmailContent } from './delivery.repository.js'
import { composeMessage } from './mime.compose.js'

export interface DkimKey {
  domain: string
  selector: string
  algorithm: 'rsa-sha256' | 'ed25519-sha256'
  privateKey: string
}

/** DKIM for sending domains: the account's keys (and bounce domain) for a domain, and the signer. */
export interface Signer {
  identity(accountId: string, domain: string): Promise<{ keys: DkimKey[]; returnPathDomain?: string }>
  sign(raw: Buffer, keys: DkimKey[]): Buffer
}

export interface PreparedMessage {
  message: Buffer
  envelopeFrom: string
}

/**
 * The bytes to send and the envelope sender. Messages from a sending domain of the account are
 * DKIM-signed over exactly these bytes (in both modes). Sent straight to MX hosts, they also get
 * a VERP return path, `bounces+<delivery>@<return-path domain>`, so a bounce names the
 * transaction it answers.
 */
export async function prepareMessage(email: EmailContent, opts: { signer?: Signer; verpDeliveryId?: string }): Promise<PreparedMessage> {
  let message = await composeMessage(email, email.attachments)
  const from = parseMailbox(email.fromHeader)
  const identity = from.ok && opts.signer ? await opts.signer.identity(email.accountId, from.mailbox.domain) : undefined
  if (identity?.keys.length && opts.signer) message = opts.signer.sign(message, identity.keys)
  const envelopeFrom =
    identity?.returnPathDomain && opts.verpDeliveryId ? `bounces+${opts.verpDeliveryId}@${identity.returnPathDomain}` : email.envelopeFrom
  return { message, envelopeFrom }
}
