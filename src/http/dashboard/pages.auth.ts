import type { FastifyInstance } from 'fastify'
import { AppError } from '../../lib/errors.js'
import type { SessionService } from '../../modules/dashboard/session.service.js'
import { cookieName, field, foreignOrigin, page, readCookie } from './dashboard.js'

/** Sign-in with a full-scope API key (exchanged for a session cookie) and sign-out. */
export function authPages(
  app: FastifyInstance,
  deps: { sessions: SessionService; secureCookie: boolean; idleMs: number; publicOrigin: string },
): void {
  const cookie = (value: string, maxAgeS: number) =>
    `${cookieName(deps.secureCookie)}=${value}; Path=${deps.secureCookie ? '/' : '/dashboard'}; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${deps.secureCookie ? '; Secure' : ''}`
  const idle = `${Math.round(deps.idleMs / 60_000)} minutes`

  app.get('/login', { schema: { hide: true } }, async (request, reply) => page(request, reply, 'login', { title: 'Sign in', idle }))

  app.post('/login', { schema: { hide: true } }, async (request, reply) => {
    // Sign-in has no session to carry a CSRF token yet: a cross-site form is refused by origin.
    if (foreignOrigin(request, deps.publicOrigin)) {
      return page(request, reply, 'login', { title: 'Sign in', idle, error: 'This form did not come from this dashboard.' }, 403)
    }
    const key = field(request, 'api_key') ?? ''
    try {
      const { token, expiresAt } = await deps.sessions.signIn(key)
      reply.header('set-cookie', cookie(token, Math.floor((expiresAt.getTime() - Date.now()) / 1000)))
      return reply.redirect('/dashboard', 303)
    } catch (err) {
      if (!(err instanceof AppError) || !['unauthorized', 'forbidden', 'account_suspended'].includes(err.code)) throw err
      return page(request, reply, 'login', { title: 'Sign in', idle, error: err.message }, err.code === 'unauthorized' ? 401 : 403)
    }
  })

  app.post('/logout', { schema: { hide: true } }, async (request, reply) => {
    await deps.sessions.signOut(readCookie(request, cookieName(deps.secureCookie)))
    reply.header('set-cookie', cookie('', 0))
    return reply.redirect('/dashboard/login', 303)
  })
}
