import { withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { uuidv7 } from '../../lib/uuid.js'
import { insertEvents } from '../events/event.repository.js'
import { insertSuppressions } from '../suppressions/suppression.repository.js'

/** The recipient an unsubscribe link names, as the unsubscribe needs it. */
export interface UnsubscribeTarget {
  recipientId: string
  emailId: string
  accountId: string
  address: string
  stream: string
}

export type UnsubscribeMethod = 'one_click' | 'mailto'

export function createUnsubscribeRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    /** The recipient behind a (verified) token; undefined once its email is gone. */
    async target(recipientId: string): Promise<UnsubscribeTarget | undefined> {
      const { rows } = await pool.query<UnsubscribeTarget>(
        `SELECT r.id AS "recipientId", r.email_id AS "emailId", r.account_id AS "accountId", r.address, e.stream
           FROM recipients r JOIN emails e ON e.id = r.email_id WHERE r.id = $1`,
        [recipientId],
      )
      return rows[0]
    },

    /**
     * Suppresses the address for the email's stream with reason `unsubscribe` and records an
     * `email.unsubscribed` event, together; only the first time (a second click, or the link and
     * the mailto both used, changes nothing and adds no event). True when this call unsubscribed.
     */
    async unsubscribe(target: UnsubscribeTarget, method: UnsubscribeMethod): Promise<boolean> {
      return withTransaction(pool, async (client) => {
        // Serializes two clicks on the same link: the second waits and then sees the first's row.
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`unsubscribe:${target.recipientId}`])
        const { rows } = await client.query<{ done: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM events WHERE email_id = $1 AND recipient_id = $2 AND type = 'email.unsubscribed') AS done`,
          [target.emailId, target.recipientId],
        )
        if (rows[0]?.done) return false
        await insertSuppressions(client, [
          {
            accountId: target.accountId,
            address: target.address,
            stream: target.stream,
            reason: 'unsubscribe',
            source: { email_id: target.emailId, recipient_id: target.recipientId, method },
          },
        ])
        await insertEvents(client, [
          {
            id: uuidv7(),
            accountId: target.accountId,
            emailId: target.emailId,
            recipientId: target.recipientId,
            recipient: target.address,
            type: 'email.unsubscribed',
            data: { stream: target.stream, method },
          },
        ])
        return true
      })
    },
  })
}

export type UnsubscribeRepository = ReturnType<typeof createUnsubscribeRepository>
