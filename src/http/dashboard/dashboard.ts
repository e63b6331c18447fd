import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, notFound } from '../../lib/errors.js'
import { isUuid } from '../../lib/uuid.js'
import type { Session, SessionService } from '../../modules/dashboard/session.service.js'
import { STATUS_BY_CODE } from '../plugins/error-handler.js'
import { DASHBOARD_DIR, renderView } from './render.js'

/**
 * The session cookie's name: over HTTPS with the __Host- prefix, which browsers accept only with
 * Secure, Path=/ and no Domain, so that no sibling subdomain can set one in its place.
 */
export const cookieName = (secure: boolean): string => (secure ? '__Host-hikyaku_session' : 'hikyaku_session')

/** Messages shown after a change (by code, so a link cannot make the page say anything else). */
const NOTICES: Record<string, string> = {
  cancelled: 'The recipients not yet handed to SMTP are cancelled.',
  'suppression-added': 'The address is suppressed.',
  'suppression-removed': 'The suppression is removed.',
  imported: 'The list is imported.',
  verified: 'The DNS records were checked again.',
  replayed: 'The event is queued for the endpoint again.',
  'key-revoked': 'The key is revoked.',
  paused: 'The campaign is paused.',
  resumed: 'The campaign is resumed.',
  'campaign-cancelled': 'The campaign is cancelled.',
}

const NAV = [
  { key: 'overview', label: 'Overview', href: '/dashboard' },
  { key: 'emails', label: 'Emails', href: '/dashboard/emails' },
  { key: 'campaigns', label: 'Campaigns', href: '/dashboard/campaigns' },
  { key: 'suppressions', label: 'Suppressions', href: '/dashboard/suppressions' },
  { key: 'domains', label: 'Domains', href: '/dashboard/domains' },
  { key: 'webhooks', label: 'Webhooks', href: '/dashboard/webhooks' },
  { key: 'keys', label: 'API keys', href: '/dashboard/keys' },
  { key: 'destinations', label: 'Destinations', href: '/dashboard/destinations' },
]

const sessions = new WeakMap<FastifyRequest, Session>()

/** The signed-in session of a request that passed the dashboard's guard. */
export function sessionOf(request: FastifyRequest): Session {
  const session = sessions.get(request)
  if (!session) throw new AppError('unauthorized', 'Sign in first.')
  return session
}

export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      // A malformed value (planted by a sibling site, say) is no session, not an error.
      try {
        return decodeURIComponent(part.slice(eq + 1).trim())
      } catch {
        return undefined
      }
    }
  }
  return undefined
}

/**
 * A request whose Origin names another site (none at all is a same-site navigation or a
 * non-browser client). Behind a proxy that rewrites Host, the browser's origin is PUBLIC_URL's.
 */
export function foreignOrigin(request: FastifyRequest, publicOrigin: string): boolean {
  const origin = request.headers.origin
  if (origin === undefined) return false
  return ![`http://${request.headers.host}`, `https://${request.headers.host}`, publicOrigin].includes(origin)
}

/** The `:id` of a page's path; not a UUID is no such thing (404), as in the API. */
export function idOf(request: FastifyRequest, what: string): string {
  const id = (request.params as { id: string }).id
  if (!isUuid(id)) throw notFound(what)
  return id
}

/** A form field as one string (a repeated field keeps its last value). */
export function field(request: FastifyRequest, name: string): string | undefined {
  const body = request.body as Record<string, unknown> | undefined
  const value = body?.[name]
  return typeof value === 'string' ? value : undefined
}

/** Renders a page of the layout, with the session, its CSRF token, the navigation and any notice. */
export async function page(
  request: FastifyRequest,
  reply: FastifyReply,
  view: string,
  context: Record<string, unknown>,
  status = 200,
): Promise<FastifyReply> {
  const session = sessions.get(request)
  const done = (request.query as Record<string, unknown> | undefined)?.done
  const html = await renderView(view, {
    session,
    csrf: session?.csrfToken,
    nav: NAV,
    notice: typeof done === 'string' ? NOTICES[done] : undefined,
    ...context,
  })
  return reply.status(status).type('text/html; charset=utf-8').send(html)
}

/** After a change, back to a page (303: the browser follows with a GET). */
export const backTo = (reply: FastifyReply, path: string, done?: string): FastifyReply =>
  reply.redirect(done ? `${path}${path.includes('?') ? '&' : '?'}done=${done}` : path, 303)

/**
 * The dashboard's frame inside its plugin scope: form bodies, security headers, HTML errors, the
 * stylesheet, and the guard every page but sign-in passes: a live session from the cookie, and
 * on every POST its CSRF token and a same-origin request.
 */
export function frame(
  app: FastifyInstance,
  deps: { sessions: SessionService; idleMs: number; publicOrigin: string; secureCookie: boolean },
): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 2_000_000 }, (_request, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  )

  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'same-origin')
    reply.header('x-frame-options', 'DENY')
    reply.header(
      'content-security-policy',
      "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
  })

  app.setErrorHandler(async (err: Error, request, reply) => {
    const known = err instanceof AppError ? err : undefined
    const validation = (err as { validation?: unknown }).validation !== undefined
    const status = known ? STATUS_BY_CODE[known.code] : validation ? 422 : ((err as { statusCode?: number }).statusCode ?? 500)
    if (status >= 500) request.log.error({ err }, 'dashboard page failed')
    const message = known || validation || status < 500 ? err.message : 'Something went wrong; the error is logged.'
    return page(request, reply, 'error', { title: status === 404 ? 'Not found' : 'That did not work', message }, status)
  })

  const css = readFileSync(join(DASHBOARD_DIR, 'static', 'app.css'))
  app.get('/static/app.css', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=300').send(css),
  )

  app.addHook('preHandler', async (request, reply) => {
    const path = request.routeOptions.url ?? ''
    if (path.endsWith('/login') || path.endsWith('/static/app.css')) return
    const session = await deps.sessions.resolve(readCookie(request, cookieName(deps.secureCookie)))
    if (!session) {
      if (request.method === 'GET') return reply.redirect('/dashboard/login', 303)
      return page(request, reply, 'error', { title: 'Signed out', message: 'Your session has ended; sign in again.' }, 401)
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const fetchSite = request.headers['sec-fetch-site']
      const crossSite = fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none'
      if (foreignOrigin(request, deps.publicOrigin) || crossSite || !deps.sessions.csrfMatches(session, field(request, '_csrf'))) {
        return page(
          request,
          reply,
          'error',
          { title: 'Refused', message: 'This form did not come from this dashboard; reload the page and try again.' },
          403,
        )
      }
    }
    sessions.set(request, session)
  })
}
