import type { Logger } from '../../infra/logger.js'
import type { UnsubscribeMethod, UnsubscribeRepository } from './unsubscribe.repository.js'
import { parseUnsubscribeAddress, readUnsubscribeToken } from './unsubscribe.token.js'

export type UnsubscribeOutcome =
  /** The token is not ours, or its message is gone. */
  { kind: 'invalid' } | { kind: 'unsubscribed'; address: string; stream: string; already: boolean }

/**
 * One-click unsubscribe (RFC 8058): a signed link or mailto names one recipient of one broadcast
 * message; using it suppresses that address for that stream only (transactional mail still
 * arrives) and emits `email.unsubscribed`. Reading a link (`peek`) changes nothing, so scanners
 * that follow links unsubscribe nobody.
 */
export function createUnsubscribeService(deps: { repository: UnsubscribeRepository; secret: string; logger: Logger }) {
  const { repository, secret, logger } = deps

  async function unsubscribe(recipientId: string | undefined, method: UnsubscribeMethod): Promise<UnsubscribeOutcome> {
    if (!recipientId) return { kind: 'invalid' }
    const target = await repository.target(recipientId)
    if (!target) return { kind: 'invalid' }
    const done = await repository.unsubscribe(target, method)
    if (done) logger.info({ accountId: target.accountId, emailId: target.emailId, stream: target.stream, method }, 'unsubscribed')
    return { kind: 'unsubscribed', address: target.address, stream: target.stream, already: !done }
  }

  return {
    /** What a link would unsubscribe, without doing it (the confirmation page). */
    async peek(token: string): Promise<UnsubscribeOutcome> {
      const recipientId = readUnsubscribeToken(secret, token)
      const target = recipientId ? await repository.target(recipientId) : undefined
      return target ? { kind: 'unsubscribed', address: target.address, stream: target.stream, already: false } : { kind: 'invalid' }
    },
    /** The link's POST (the one click, or the confirmation page's button). */
    byLink: (token: string) => unsubscribe(readUnsubscribeToken(secret, token), 'one_click'),
    /** True when an inbound recipient is an unsubscribe address of ours (signature checked). */
    accepts: (address: string): boolean => parseUnsubscribeAddress(secret, address) !== undefined,
    /** Mail to `unsubscribe+<token>@…`: every such recipient of it is unsubscribed. */
    async byMail(rcptTo: string[]): Promise<number> {
      let count = 0
      // The inbound listener takes at most 20 recipients per message.
      for (const address of rcptTo.slice(0, 20)) {
        const outcome = await unsubscribe(parseUnsubscribeAddress(secret, address), 'mailto')
        if (outcome.kind === 'unsubscribed') count++
      }
      return count
    },
  }
}

export type UnsubscribeService = ReturnType<typeof createUnsubscribeService>
