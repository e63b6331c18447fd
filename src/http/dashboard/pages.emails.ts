import type { FastifyInstance } from 'fastify'
import { parseAddress } from '../../lib/address.js'
import { AppError, notFound, validationFailed } from '../../lib/errors.js'
import { createSemaphore } from '../../lib/semaphore.js'
import type { EmailService } from '../../modules/emails/email.service.js'
import type { EmailSourceRepository } from '../../modules/emails/email.source.js'
import type { EmailStatus } from '../../modules/emails/email.types.js'
import { cursorId, encodeCursor, nextCursor, presentEmail, presentSummary } from '../presenters.js'
import { backTo, idOf, page, sessionOf } from './dashboard.js'

const STATUSES = [
  'scheduled',
  'queued',
  'sending',
  'sent',
  'delivered',
  'partially_delivered',
  'deferred',
  'bounced',
  'expired',
  'failed',
  'suppressed',
  'cancelled',
]
const PENDING = new Set(['scheduled', 'queued', 'sending', 'deferred'])
const PAGE = 50
const REFRESH_FOR_MS = 15 * 60_000
/** Raw views composed at once per process: each holds up to a few MB while it is built. */
const rawViews = createSemaphore(2)

type Query = Record<string, string | undefined>

/** Emails: a filtered, paginated list (server-side), each email's timeline and raw source, cancel. */
export function emailPages(app: FastifyInstance, deps: { emails: EmailService; sources: EmailSourceRepository }): void {
  app.get('/emails', { schema: { hide: true } }, async (request, reply) => {
    const session = sessionOf(request)
    const q = request.query as Query
    const status = q.status && STATUSES.includes(q.status) ? (q.status as EmailStatus) : undefined
    let recipient: string | undefined
    let error: string | undefined
    if (q.recipient) {
      const parsed = parseAddress(q.recipient)
      if (parsed.ok) recipient = parsed.mailbox.address
      else error = `Recipient: ${parsed.reason}`
    }
    const [tagKey, tagValue] = q.tag?.includes(':') ? q.tag.split(':', 2) : []
    const rows = error
      ? []
      : await deps.emails.list(session.principal, {
          status,
          recipient,
          tag: tagKey && tagValue ? { key: tagKey, value: tagValue } : undefined,
          before: q.cursor ? cursorId(q.cursor) : undefined,
          limit: PAGE,
        })
    const next = nextCursor(rows, PAGE)
    const keep = new URLSearchParams(
      Object.entries({ status: q.status, recipient: q.recipient, tag: q.tag }).filter(([, v]) => v) as [string, string][],
    )
    return page(request, reply, 'emails', {
      title: 'Emails',
      page: 'emails',
      error,
      statuses: STATUSES,
      filter: { status: status ?? '', recipient: q.recipient ?? '', tag: q.tag ?? '' },
      emails: rows.map(presentSummary),
      next: next ? `/dashboard/emails?${keep.toString() ? `${keep}&` : ''}cursor=${encodeURIComponent(next)}` : null,
      first: q.cursor ? `/dashboard/emails${keep.toString() ? `?${keep}` : ''}` : null,
    })
  })

  app.get('/emails/:id', { schema: { hide: true } }, async (request, reply) => {
    const session = sessionOf(request)
    const id = idOf(request, 'Email')
    const { email, events } = await deps.emails.get(session.principal, id)
    const view = presentEmail(email, events)
    return page(request, reply, 'email', {
      title: `Email ${view.subject}`,
      page: 'emails',
      email: view,
      pending: PENDING.has(view.status),
      // While something is still moving, the page reloads itself (no script needed); for a quarter
      // of an hour at most, so that a tab left open on a deferred email does not keep its session alive.
      refresh: PENDING.has(view.status) && Date.now() - email.createdAt.getTime() < REFRESH_FOR_MS ? 5 : undefined,
      cursor: encodeCursor(id),
    })
  })

  app.get('/emails/:id/raw', { schema: { hide: true } }, async (request, reply) => {
    const session = sessionOf(request)
    const id = idOf(request, 'Email')
    if (!(await rawViews.acquire(1, { timeoutMs: 10_000 })))
      throw new AppError('unavailable', 'Too many raw views at once; try again shortly.')
    const raw = await deps.sources.raw(session.principal.accountId, id).finally(() => rawViews.release(1))
    if (!raw) throw notFound('Email')
    return page(request, reply, 'raw', {
      title: 'Raw message',
      page: 'emails',
      id,
      source: raw.bytes.toString('latin1'),
      truncated: raw.truncated,
      purgedAt: raw.purgedAt?.toISOString() ?? null,
    })
  })

  app.post('/emails/:id/cancel', { schema: { hide: true } }, async (request, reply) => {
    const session = sessionOf(request)
    const id = idOf(request, 'Email')
    try {
      await deps.emails.cancel(session.principal, id)
    } catch (err) {
      if (err instanceof AppError && err.code === 'conflict') throw validationFailed([{ path: '', message: err.message }])
      throw err
    }
    return backTo(reply, `/dashboard/emails/${id}`, 'cancelled')
  })
}
