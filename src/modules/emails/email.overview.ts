import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'

/** How many of an account's newest emails the overview looks through for mail still on its way. */
export const OVERVIEW_SCAN = 10_000

/**
 * What the dashboard's overview says of an account's queue: its emails still on their way
 * (scheduled, queued, sending, deferred) among its newest OVERVIEW_SCAN, read through the
 * (account, id) index, so the cost is bounded however much the account has sent.
 */
export function createEmailOverviewRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    async pending(accountId: string): Promise<{ scheduled: number; queued: number; sending: number; deferred: number; scanned: number }> {
      const { rows } = await pool.query<{ scheduled: number; queued: number; sending: number; deferred: number; scanned: number }>(
        `SELECT count(*) FILTER (WHERE status = 'scheduled')::int AS scheduled, count(*) FILTER (WHERE status = 'queued')::int AS queued,
                count(*) FILTER (WHERE status = 'sending')::int AS sending, count(*) FILTER (WHERE status = 'deferred')::int AS deferred,
                count(*)::int AS scanned
           FROM (SELECT status FROM emails WHERE account_id = $1 ORDER BY id DESC LIMIT $2) e`,
        [accountId, OVERVIEW_SCAN],
      )
      return rows[0] ?? { scheduled: 0, queued: 0, sending: 0, deferred: 0, scanned: 0 }
    },
  })
}

export type EmailOverviewRepository = ReturnType<typeof createEmailOverviewRepository>
