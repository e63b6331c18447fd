import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import type { AccountQuotas, ApiKeyScope, Principal } from '../api-keys/api-key.types.js'

export interface StoredSession {
  id: string
  principal: Principal
  accountName: string
  lastSeenAt: Date
}

export function createSessionRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    async insert(session: { id: string; tokenHash: Buffer; accountId: string; apiKeyId: string; expiresAt: Date }): Promise<void> {
      // Ended sessions go as new ones start: a few rows each time, never a sweep of the table.
      await pool.query('DELETE FROM dashboard_sessions WHERE id IN (SELECT id FROM dashboard_sessions WHERE expires_at < now() LIMIT 100)')
      await pool.query('INSERT INTO dashboard_sessions (id, token_hash, account_id, api_key_id, expires_at) VALUES ($1, $2, $3, $4, $5)', [
        session.id,
        session.tokenHash,
        session.accountId,
        session.apiKeyId,
        session.expiresAt,
      ])
    },

    /**
     * The live session with this token hash: not expired, used within `idleMs`, its key not
     * revoked and its account not suspended. Anything else is no session.
     */
    async findLive(tokenHash: Buffer, idleMs: number): Promise<StoredSession | undefined> {
      const { rows } = await pool.query<{
        id: string
        account_id: string
        api_key_id: string
        key_id: string
        scope: ApiKeyScope
        broadcast_footer: string | null
        quotas: AccountQuotas
        name: string
        last_seen_at: Date
      }>(
        `SELECT s.id, s.account_id, s.api_key_id, k.key_id, k.scope, a.broadcast_footer, a.quotas, a.name, s.last_seen_at
           FROM dashboard_sessions s
           JOIN api_keys k ON k.id = s.api_key_id AND k.account_id = s.account_id AND k.revoked_at IS NULL
           JOIN accounts a ON a.id = s.account_id AND a.suspended_at IS NULL
          WHERE s.token_hash = $1 AND s.expires_at > now() AND s.last_seen_at > now() - $2 * interval '1 millisecond'`,
        [tokenHash, idleMs],
      )
      const row = rows[0]
      if (!row) return undefined
      return {
        id: row.id,
        accountName: row.name,
        lastSeenAt: row.last_seen_at,
        principal: {
          accountId: row.account_id,
          apiKeyId: row.api_key_id,
          keyId: row.key_id,
          scope: row.scope,
          broadcastFooter: row.broadcast_footer,
          quotas: row.quotas,
        },
      }
    },

    async touch(id: string): Promise<void> {
      await pool.query('UPDATE dashboard_sessions SET last_seen_at = now() WHERE id = $1', [id])
    },

    async delete(tokenHash: Buffer): Promise<void> {
      await pool.query('DELETE FROM dashboard_sessions WHERE token_hash = $1', [tokenHash])
    },
  })
}

export type SessionRepository = ReturnType<typeof createSessionRepository>
