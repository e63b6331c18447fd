import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { AppError } from '../../lib/errors.js'
import { uuidv7 } from '../../lib/uuid.js'
import type { ApiKeyService } from '../api-keys/api-key.service.js'
import type { SessionRepository, StoredSession } from './session.repository.js'

/** last_seen_at is written at most this often per session (a page view is not a write), and well within the idle timeout. */
const TOUCH_EVERY_MS = 60_000

const hashOf = (token: string): Buffer => createHash('sha256').update(token).digest()

export interface Session extends StoredSession {
  /** Sent back with every form that changes something. */
  csrfToken: string
}

/**
 * Dashboard sign-in: a full-scope API key is exchanged for a random session token that only the
 * browser holds (in an HttpOnly cookie); the database keeps its SHA-256. Each session has a CSRF
 * token derived from it with HMAC, so a form posted from another site, which cannot read the
 * page, cannot carry it.
 */
export function createSessionService(deps: {
  repository: SessionRepository
  apiKeys: Pick<ApiKeyService, 'authenticate'>
  secret: string
  ttlMs: number
  idleMs: number
}) {
  const { repository } = deps
  const touchEveryMs = Math.min(TOUCH_EVERY_MS, Math.floor(deps.idleMs / 4))
  const csrfKey = createHmac('sha256', deps.secret).update('hikyaku dashboard csrf').digest()
  const csrfOf = (sessionId: string): string => createHmac('sha256', csrfKey).update(sessionId).digest('base64url')

  return {
    /** Signs in with an API key; returns the cookie's token. Only full-scope keys may. */
    async signIn(apiKey: string): Promise<{ token: string; expiresAt: Date }> {
      const principal = await deps.apiKeys.authenticate(apiKey.trim())
      if (principal.scope !== 'full') {
        throw new AppError('forbidden', 'This key may only send mail; sign in to the dashboard with a full-scope key.')
      }
      const token = randomBytes(32).toString('base64url')
      const expiresAt = new Date(Date.now() + deps.ttlMs)
      await repository.insert({
        id: uuidv7(),
        tokenHash: hashOf(token),
        accountId: principal.accountId,
        apiKeyId: principal.apiKeyId,
        expiresAt,
      })
      return { token, expiresAt }
    },

    /** The live session of a cookie's token, or undefined (expired, idle, key revoked, account suspended). */
    async resolve(token: string | undefined): Promise<Session | undefined> {
      if (!token || token.length > 100) return undefined
      const found = await repository.findLive(hashOf(token), deps.idleMs)
      if (!found) return undefined
      if (Date.now() - found.lastSeenAt.getTime() > touchEveryMs) await repository.touch(found.id)
      return { ...found, csrfToken: csrfOf(found.id) }
    },

    csrfMatches(session: Session, given: string | undefined): boolean {
      if (!given) return false
      const a = Buffer.from(given)
      const b = Buffer.from(session.csrfToken)
      return a.length === b.length && timingSafeEqual(a, b)
    },

    async signOut(token: string | undefined): Promise<void> {
      if (token && token.length <= 100) await repository.delete(hashOf(token))
    },
  }
}

export type SessionService = ReturnType<typeof createSessionService>
