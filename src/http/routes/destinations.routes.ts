import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { DestinationsView } from '../../modules/delivery/destinations.view.js'
import { errors } from '../schemas/common.js'
import { DestinationListSchema } from '../schemas/destinations.js'

export const destinationRoutes: FastifyPluginAsyncTypebox<{ destinations: DestinationsView }> = async (app, { destinations }) => {
  app.get(
    '/destinations',
    {
      schema: {
        tags: ['destinations'],
        summary: 'What the mailbox providers told us: pauses, the rule that fired, and the mail they hold back',
        description:
          "One entry per provider profile. A pause is shared by every account (it is about our sending IP); held senders are this account's own sending domains whose authentication the provider refused (the hold runs out, then one message tries first); held recipient domains (a count) refuse us by their own rule, and each waiting recipient shows its reason.",
        response: { 200: DestinationListSchema, ...errors(401, 403, 429) },
      },
    },
    async (request) => {
      const list = await destinations.list(request.principal.accountId)
      return {
        data: list.map((d) => ({
          destination: d.destination,
          paused_until: d.pausedUntil?.toISOString() ?? null,
          concurrency: d.concurrency,
          connections: d.connections,
          waiting: d.waiting,
          max_connections: d.maxConnections,
          rate_per_second: d.ratePerSecond,
          last_reply: d.lastReply ? { text: d.lastReply.text, at: d.lastReply.at.toISOString() } : null,
          last_rule: d.lastRule ? { id: d.lastRule.id, class: d.lastRule.class, at: d.lastRule.at.toISOString() } : null,
          held_senders: d.heldSenders.map((h) => ({ domain: h.domain, until: h.until.toISOString() })),
          held_recipient_domains: d.heldRecipientDomains,
        })),
      }
    },
  )
}
