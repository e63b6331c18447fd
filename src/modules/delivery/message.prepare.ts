import { parseMailbox } from '../../lib/address.js'
import { AppError } from '../../lib/errors.js'
import { parseHeader, prependFields } from '../../lib/raw-message.js'
import type { EmailContent } from './delivery.types.js'
import { composeMessage } from './mime.compose.js'

export interface DkimKey {
  domain: string
  selector: string
  algorithm: 'rsa-sha256' | 'ed25519-sha256'
  privateKey: string
}

/**
 * DKIM for sending domains: the account's keys (and bounce domain) for a domain, and the signer.
 * `identity` rejects with `AppError('internal')` when the domain's keys cannot be used (they no
 * longer decrypt); any other rejection is taken as passing (the database away, say).
 */
export interface Signer {
  identity(accountId: string, domain: string): Promise<{ keys: DkimKey[]; returnPathDomain?: string }>
  sign(raw: Buffer, keys: DkimKey[]): Buffer
  /** The signed return path of one delivery on a bounce domain (`bounces+<delivery>-<tag>@…`). */
  returnPath(deliveryId: string, domain: string): string
}

export interface PreparedMessage {
  message: Buffer
  envelopeFrom: string
}

/**
 * A message that cannot be built or signed for a reason no retry will change (a DKIM key that
 * no longer decrypts, content the composer refuses): the attempt ends `failed`, with `message`
 * shown to the account, instead of deferring until the message expires.
 */
export class PrepareError extends Error {
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message)
    this.name = 'PrepareError'
  }
}

/**
 * The bytes to send and the envelope sender. Messages from a sending domain of the account are
 * DKIM-signed over exactly these bytes (in both modes). Once the domain's return-path MX is
 * published they also get a signed VERP return path, `bounces+<delivery>-<tag>@<return-path
 * domain>`, in both modes (a relay returns bounces to the envelope sender too), so that a bounce
 * names the transaction it answers and nobody else can make one that does.
 */
export async function prepareMessage(
  email: EmailContent,
  opts: {
    signer?: Signer
    deliveryId?: string
    /**
     * Fields to add unless the message has its own List-Unsubscribe (one-click unsubscribe of a
     * broadcast recipient), given the return-path domain for its mailto form. Added before
     * signing, so the signature covers them.
     */
    listUnsubscribe?: (mailDomain: string | undefined) => Array<[string, string]>
  },
): Promise<PreparedMessage> {
  let message: Buffer
  try {
    message = await composeMessage(email, email.attachments)
  } catch (err) {
    throw new PrepareError('the stored message could not be composed into MIME', err)
  }
  const addUnsubscribe = (domain: string | undefined) => {
    if (!opts.listUnsubscribe) return
    const header = parseHeader(message)
    if (header.fields.some((f) => f.key === 'list-unsubscribe')) return
    // A List-Unsubscribe-Post of the caller's own (without a List-Unsubscribe) is not doubled.
    const hasPost = header.fields.some((f) => f.key === 'list-unsubscribe-post')
    const fields = opts.listUnsubscribe(domain).filter(([name]) => !(hasPost && name.toLowerCase() === 'list-unsubscribe-post'))
    message = prependFields(message, fields, header.eol)
  }
  const from = parseMailbox(email.fromHeader)
  let identity: Awaited<ReturnType<Signer['identity']>> | undefined
  if (from.ok && opts.signer) {
    try {
      identity = await opts.signer.identity(email.accountId, from.mailbox.domain)
    } catch (err) {
      // Only a key said to be unusable is permanent; anything else (the database away, a timeout)
      // defers the message rather than fail it for good.
      if (!(err instanceof AppError && err.code === 'internal')) throw err
      throw new PrepareError(`the DKIM signing key of ${from.mailbox.domain} cannot be used; the operator must check the domain`, err)
    }
    addUnsubscribe(identity.returnPathDomain)
    if (identity.keys.length) {
      try {
        message = opts.signer.sign(message, identity.keys)
      } catch (err) {
        throw new PrepareError(`the message could not be DKIM-signed with the key of ${from.mailbox.domain}`, err)
      }
    }
  }
  if (!identity) addUnsubscribe(undefined)
  const envelopeFrom =
    identity?.returnPathDomain && opts.deliveryId && opts.signer
      ? opts.signer.returnPath(opts.deliveryId, identity.returnPathDomain)
      : email.envelopeFrom
  return { message, envelopeFrom }
}
