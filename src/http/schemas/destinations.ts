import { Type } from 'typebox'
import { REPLY_CLASSES } from '../../modules/delivery/reply-rules.js'
import { Nullable, Timestamp } from './common.js'

const Held = Type.Object({ domain: Type.String(), until: Timestamp })

export const DestinationSchema = Type.Object({
  destination: Type.String({
    description: 'The provider profile (google, microsoft, yahoo, apple, docomo, kddi, softbank, … and configured ones)',
  }),
  paused_until: Nullable(Timestamp),
  concurrency: Type.Number({ description: "Share of the profile's connections allowed now: below 1 while it recovers from throttling" }),
  connections: Type.Integer({ description: 'Connections open to it now, over every worker process' }),
  waiting: Type.Integer({
    description:
      "This account's deliveries waiting for it: paused, held, warming up, or no free connection or rate token (its backlog; counted up to 100,000)",
  }),
  max_connections: Type.Integer({ description: 'Connections the profile allows at most (times `concurrency` while it recovers)' }),
  rate_per_second: Type.Number({ description: 'Messages per second at most over all connections; 0: no limit' }),
  last_reply: Nullable(
    Type.Object(
      { text: Type.String({ description: 'Code, enhanced code and text, on one line' }), at: Timestamp },
      { description: 'The last throttling reply this destination gave us' },
    ),
  ),
  last_rule: Nullable(
    Type.Object({
      id: Type.String({ description: 'The reply rule that last paused this destination' }),
      class: Nullable(Type.Enum([...REPLY_CLASSES])),
      at: Timestamp,
    }),
  ),
  held_senders: Type.Array(Held, {
    description:
      "This account's sending domains whose mail waits here: the provider refused their authentication. Fix it; when the hold runs out, one message tries first and the rest follow if it goes",
  }),
  held_recipient_domains: Type.Integer({
    description: 'How many recipient domains refuse us here by their own rule (their waiting recipients say so with destination_blocked)',
  }),
})

export const DestinationListSchema = Type.Object({ data: Type.Array(DestinationSchema) })
