import { withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import type { WebhookEndpointView, WebhookFilters } from './webhook.types.js'

interface EndpointRow {
  id: string
  url: string
  description: string | null
  event_types: string[]
  streams: string[]
  domains: string[]
  tags: Record<string, string>
  enabled: boolean
  disabled_reason: string | null
  failing_since: Date | null
  previous_secret_expires_at: Date | null
  created_at: Date
  updated_at: Date
}

const COLUMNS = `id, url, description, event_types, streams, domains, tags, enabled, disabled_reason, failing_since,
  previous_secret_expires_at, created_at, updated_at`

const view = (r: EndpointRow): WebhookEndpointView => ({
  id: r.id,
  url: r.url,
  description: r.description,
  eventTypes: r.event_types,
  streams: r.streams,
  domains: r.domains,
  tags: r.tags,
  enabled: r.enabled,
  disabledReason: r.disabled_reason,
  failingSince: r.failing_since,
  previousSecretExpiresAt: r.previous_secret_expires_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
})

export interface EndpointPatch extends Partial<WebhookFilters> {
  url?: string
  description?: string | null
  enabled?: boolean
}

/**
 * Starts the account's fan-out cursor at the current horizon when no other enabled endpoint
 * reads the feed: a first endpoint gets events from now on, not the account's whole history.
 */
const START_CURSOR_SQL = `
INSERT INTO webhook_cursors (account_id, txid, event_id)
VALUES ($1, pg_snapshot_xmin(pg_current_snapshot())::text, '00000000-0000-0000-0000-000000000000')
ON CONFLICT (account_id) DO UPDATE SET txid = EXCLUDED.txid, event_id = EXCLUDED.event_id, updated_at = now()
 WHERE NOT EXISTS (SELECT 1 FROM webhook_endpoints ep WHERE ep.account_id = $1 AND ep.enabled AND ep.id <> $2)`

/** A disabled endpoint's deliveries leave the due index (so claims never wade through them); re-enabled, they are due again. */
// Rows in flight are parked too: their outcome, when it comes, keeps them parked (RECORD_SQL).
const PARK_SQL = `UPDATE webhook_deliveries SET next_attempt_at = NULL, updated_at = now() WHERE endpoint_id = $1 AND status IN ('pending', 'sending')`
const UNPARK_SQL = `UPDATE webhook_deliveries SET next_attempt_at = now(), updated_at = now()
  WHERE endpoint_id = $1 AND status IN ('pending', 'sending') AND next_attempt_at IS NULL`

export function createEndpointRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    async create(accountId: string, id: string, input: WebhookFilters & { url: string; description: string | null }, sealedSecret: string) {
      return withTransaction(pool, async (client) => {
        const { rows } = await client.query<EndpointRow>(
          `INSERT INTO webhook_endpoints (id, account_id, url, description, event_types, streams, domains, tags, secret)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
          [
            id,
            accountId,
            input.url,
            input.description,
            input.eventTypes,
            input.streams,
            input.domains,
            JSON.stringify(input.tags),
            sealedSecret,
          ],
        )
        await client.query(START_CURSOR_SQL, [accountId, id])
        return view(rows[0] as EndpointRow)
      })
    },

    async list(accountId: string, limit: number, before: string | undefined): Promise<WebhookEndpointView[]> {
      const { rows } = await pool.query<EndpointRow>(
        `SELECT ${COLUMNS} FROM webhook_endpoints WHERE account_id = $1 AND ($2::uuid IS NULL OR id < $2::uuid) ORDER BY id DESC LIMIT $3`,
        [accountId, before ?? null, limit],
      )
      return rows.map(view)
    },

    async get(accountId: string, id: string): Promise<WebhookEndpointView | undefined> {
      const { rows } = await pool.query<EndpointRow>(`SELECT ${COLUMNS} FROM webhook_endpoints WHERE account_id = $1 AND id = $2`, [
        accountId,
        id,
      ])
      return rows[0] ? view(rows[0]) : undefined
    },

    async update(accountId: string, id: string, patch: EndpointPatch): Promise<WebhookEndpointView | undefined> {
      return withTransaction(pool, async (client) => {
        const { rows: before } = await client.query<{ enabled: boolean }>(
          'SELECT enabled FROM webhook_endpoints WHERE account_id = $1 AND id = $2 FOR UPDATE',
          [accountId, id],
        )
        if (!before[0]) return undefined
        if (patch.enabled === true && !before[0].enabled) await client.query(START_CURSOR_SQL, [accountId, id])
        const { rows } = await client.query<EndpointRow>(
          `UPDATE webhook_endpoints SET
             url = coalesce($3, url), description = CASE WHEN $4 THEN $5 ELSE description END,
             event_types = coalesce($6, event_types), streams = coalesce($7, streams), domains = coalesce($8, domains),
             tags = coalesce($9::jsonb, tags), enabled = coalesce($10, enabled),
             disabled_reason = CASE WHEN $10 IS NULL THEN disabled_reason WHEN $10 THEN NULL ELSE 'disabled by the account' END,
             failing_since = CASE WHEN $10 THEN NULL ELSE failing_since END, updated_at = now()
           WHERE account_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
          [
            accountId,
            id,
            patch.url ?? null,
            patch.description !== undefined,
            patch.description ?? null,
            patch.eventTypes ?? null,
            patch.streams ?? null,
            patch.domains ?? null,
            patch.tags ? JSON.stringify(patch.tags) : null,
            patch.enabled ?? null,
          ],
        )
        if (patch.enabled === true && !before[0].enabled) await client.query(UNPARK_SQL, [id])
        if (patch.enabled === false && before[0].enabled) await client.query(PARK_SQL, [id])
        return rows[0] ? view(rows[0]) : undefined
      })
    },

    async remove(accountId: string, id: string): Promise<boolean> {
      const { rowCount } = await pool.query('DELETE FROM webhook_endpoints WHERE account_id = $1 AND id = $2', [accountId, id])
      return (rowCount ?? 0) > 0
    },

    /** The sealed current secret, and the previous one while its overlap lasts. */
    async secrets(accountId: string, id: string): Promise<{ secret: string; previousSecret: string | null } | undefined> {
      const { rows } = await pool.query<{ secret: string; previous_secret: string | null }>(
        `SELECT secret, CASE WHEN previous_secret_expires_at > now() THEN previous_secret END AS previous_secret
           FROM webhook_endpoints WHERE account_id = $1 AND id = $2`,
        [accountId, id],
      )
      return rows[0] ? { secret: rows[0].secret, previousSecret: rows[0].previous_secret } : undefined
    },

    /** A new secret; the old one is still signed with until `overlapMs` from now. */
    async rotate(accountId: string, id: string, sealedSecret: string, overlapMs: number): Promise<WebhookEndpointView | undefined> {
      const { rows } = await pool.query<EndpointRow>(
        `UPDATE webhook_endpoints SET previous_secret = secret, secret = $3,
                previous_secret_expires_at = now() + $4 * interval '1 millisecond', updated_at = now()
          WHERE account_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
        [accountId, id, sealedSecret, overlapMs],
      )
      return rows[0] ? view(rows[0]) : undefined
    },

    /** Disables endpoints that have failed without a success for `afterMs`; returns them. */
    async disableFailing(afterMs: number): Promise<Array<{ id: string; accountId: string }>> {
      return withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ id: string; account_id: string }>(
          `UPDATE webhook_endpoints SET enabled = false, updated_at = now(),
                  disabled_reason = 'every request failed since ' || to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                    || ' (' || coalesce((SELECT 'last: ' || coalesce(d.last_status::text, d.last_error) FROM webhook_deliveries d
                                         WHERE d.endpoint_id = webhook_endpoints.id ORDER BY d.updated_at DESC LIMIT 1), 'no answer') || ')'
            WHERE enabled AND failing_since < now() - $1 * interval '1 millisecond'
           RETURNING id, account_id`,
          [afterMs],
        )
        for (const r of rows) await client.query(PARK_SQL, [r.id])
        return rows.map((r) => ({ id: r.id, accountId: r.account_id }))
      })
    },
  })
}

export type EndpointRepository = ReturnType<typeof createEndpointRepository>
