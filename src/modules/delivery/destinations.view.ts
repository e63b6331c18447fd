import type { DestinationLimiter } from './limiter.port.js'
import { redactReply } from './reply-redact.js'
import type { ReplyClass } from './reply-rules.js'
import type { Shaping } from './shaping.js'

/** One provider destination as an account sees it: its shared pause, and the holds that concern it. */
export interface DestinationInfo {
  destination: string
  pausedUntil: Date | null
  /** Share of the profile's connections allowed now: below 1 while it recovers from throttling. */
  concurrency: number
  /** Connections open to it now (every worker), and the most the profile allows (before `concurrency`). */
  connections: number
  maxConnections: number
  /** This account's deliveries waiting for it (paused, held, warming up, no free slot or rate token). */
  waiting: number
  /** Messages per second at most over every connection; 0: no limit. */
  ratePerSecond: number
  /** The last throttling reply it gave (one line, at most 300 characters; addresses and other accounts' domains removed). */
  lastReply: { text: string; at: Date } | null
  lastRule: { id: string; class: ReplyClass | null; at: Date } | null
  /** This account's sending domains held there (their authentication failed), with when each hold ends. */
  heldSenders: Array<{ domain: string; until: Date }>
  /**
   * How many recipient domains are held there (their own block lists or demands). Not which: they
   * would tell an account where other accounts send; its own waiting recipients show theirs.
   */
  heldRecipientDomains: number
}

/**
 * The destinations view (GET /v1/destinations): what the reply rules did to each provider
 * profile. Pauses are shared facts about our sending IP and are shown to every account; a sender
 * hold names an account (see holds.ts) and is shown only to it; recipient-domain holds are counted.
 */
export function createDestinationsView(deps: {
  shaping: Pick<Shaping, 'profileNames' | 'ruleClass' | 'profileLimits' | 'profileHosts'>
  limiter: DestinationLimiter
}) {
  return {
    async list(accountId: string): Promise<DestinationInfo[]> {
      const now = Date.now()
      const own = `${accountId}/`
      return Promise.all(
        deps.shaping.profileNames().map(async (name) => {
          const view = await deps.limiter.describe(`profile:${name}`, accountId)
          return {
            destination: name,
            pausedUntil: view.pausedUntil > now ? new Date(view.pausedUntil) : null,
            concurrency: view.factor,
            connections: view.connections,
            waiting: view.waiting,
            ...deps.shaping.profileLimits(name),
            lastReply: view.lastReply
              ? { text: redactReply(view.lastReply.text, deps.shaping.profileHosts(name)), at: new Date(view.lastReply.at) }
              : null,
            lastRule: view.lastRule
              ? { id: view.lastRule.id, class: deps.shaping.ruleClass(view.lastRule.id) ?? null, at: new Date(view.lastRule.at) }
              : null,
            heldSenders: view.senders
              .filter((s) => s.who.startsWith(own))
              .map((s) => ({ domain: s.who.slice(own.length), until: new Date(s.until) })),
            heldRecipientDomains: view.recipientDomainsHeld,
          }
        }),
      )
    },

    /**
     * Every profile's shared state (pause, concurrency, recipient domains held), naming no
     * account's senders: what the metrics show. No account id is empty, so no sender hold matches.
     */
    async overview(): Promise<Array<Pick<DestinationInfo, 'destination' | 'pausedUntil' | 'concurrency' | 'heldRecipientDomains'>>> {
      const now = Date.now()
      return Promise.all(
        deps.shaping.profileNames().map(async (name) => {
          const view = await deps.limiter.describe(`profile:${name}`, '')
          return {
            destination: name,
            pausedUntil: view.pausedUntil > now ? new Date(view.pausedUntil) : null,
            concurrency: view.factor,
            heldRecipientDomains: view.recipientDomainsHeld,
          }
        }),
      )
    },
  }
}

export type DestinationsView = ReturnType<typeof createDestinationsView>
