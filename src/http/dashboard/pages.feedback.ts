import type { FastifyInstance } from 'fastify'
import { validationFailed } from '../../lib/errors.js'
import { isUuid } from '../../lib/uuid.js'
import type { SuppressionService } from '../../modules/suppressions/suppression.service.js'
import type { WebhookService } from '../../modules/webhooks/webhook.service.js'
import { cursorId, iso, nextCursor, presentSuppression } from '../presenters.js'
import { backTo, field, idOf, page, sessionOf } from './dashboard.js'

const PAGE = 50
const REASONS = ['hard_bounce', 'complaint', 'unsubscribe', 'manual']

/** Suppressions (search, add, remove, import) and webhooks (endpoints, their request log, replay). */
export function feedbackPages(app: FastifyInstance, deps: { suppressions: SuppressionService; webhooks: WebhookService }): void {
  app.get('/suppressions', { schema: { hide: true } }, async (request, reply) => {
    const q = request.query as Record<string, string | undefined>
    const search = q.q?.trim() ?? ''
    // One box: an address is an exact match, anything else (`example.com`) the addresses at a domain.
    const byAddress = search.includes('@')
    const rows = await deps.suppressions.list(sessionOf(request).principal.accountId, {
      address: byAddress ? search : undefined,
      domain: !byAddress && search !== '' ? search : undefined,
      reason: q.reason && REASONS.includes(q.reason) ? (q.reason as never) : undefined,
      before: q.cursor ? cursorId(q.cursor) : undefined,
      limit: PAGE,
    })
    const next = nextCursor(rows, PAGE)
    const keep = new URLSearchParams(Object.entries({ q: q.q, reason: q.reason }).filter(([, v]) => v) as [string, string][])
    return page(request, reply, 'suppressions', {
      title: 'Suppressions',
      page: 'suppressions',
      reasons: REASONS,
      filter: { q: search, reason: q.reason ?? '' },
      suppressions: rows.map(presentSuppression),
      next: next ? `/dashboard/suppressions?${keep.toString() ? `${keep}&` : ''}cursor=${encodeURIComponent(next)}` : null,
    })
  })

  app.post('/suppressions', { schema: { hide: true } }, async (request, reply) => {
    const stream = field(request, 'stream')?.trim()
    await deps.suppressions.add(sessionOf(request).principal.accountId, {
      address: field(request, 'address') ?? '',
      stream: stream ? stream : null,
      note: field(request, 'note')?.slice(0, 500) || undefined,
    })
    return backTo(reply, '/dashboard/suppressions', 'suppression-added')
  })

  app.post('/suppressions/remove', { schema: { hide: true } }, async (request, reply) => {
    const stream = field(request, 'stream')
    await deps.suppressions.remove(sessionOf(request).principal.accountId, field(request, 'address') ?? '', stream ? stream : null)
    return backTo(reply, '/dashboard/suppressions', 'suppression-removed')
  })

  app.post('/suppressions/import', { schema: { hide: true } }, async (request, reply) => {
    const csv = field(request, 'csv') ?? ''
    if (csv.trim() === '')
      throw validationFailed([{ path: '/csv', message: 'paste the CSV to import (a header line with address, then one address a line)' }])
    await deps.suppressions.importCsv(sessionOf(request).principal.accountId, csv)
    return backTo(reply, '/dashboard/suppressions', 'imported')
  })

  app.get('/webhooks', { schema: { hide: true } }, async (request, reply) => {
    const q = request.query as { cursor?: string }
    const rows = await deps.webhooks.list(sessionOf(request).principal.accountId, PAGE, q.cursor ? cursorId(q.cursor) : undefined)
    const next = nextCursor(rows, PAGE)
    return page(request, reply, 'webhooks', {
      title: 'Webhooks',
      page: 'webhooks',
      endpoints: rows.map((e) => ({ ...e, failingSince: iso(e.failingSince), createdAt: e.createdAt.toISOString() })),
      next: next ? `/dashboard/webhooks?cursor=${encodeURIComponent(next)}` : null,
    })
  })

  app.get('/webhooks/:id', { schema: { hide: true } }, async (request, reply) => {
    const id = idOf(request, 'Webhook endpoint')
    const accountId = sessionOf(request).principal.accountId
    const q = request.query as { cursor?: string }
    const [endpoint, attempts] = await Promise.all([
      deps.webhooks.get(accountId, id),
      deps.webhooks.attempts(accountId, id, PAGE, q.cursor ? cursorId(q.cursor) : undefined),
    ])
    const next = nextCursor(attempts, PAGE)
    return page(request, reply, 'webhook', {
      title: endpoint.url,
      page: 'webhooks',
      endpoint: { ...endpoint, failingSince: iso(endpoint.failingSince), createdAt: endpoint.createdAt.toISOString() },
      attempts: attempts.map((a) => ({ ...a, startedAt: a.startedAt.toISOString() })),
      next: next ? `/dashboard/webhooks/${id}?cursor=${encodeURIComponent(next)}` : null,
    })
  })

  app.post('/webhooks/:id/replay', { schema: { hide: true } }, async (request, reply) => {
    const id = idOf(request, 'Webhook endpoint')
    const eventId = field(request, 'event_id') ?? ''
    if (!isUuid(eventId)) throw validationFailed([{ path: '/event_id', message: 'must be an event id' }])
    await deps.webhooks.replay(sessionOf(request).principal.accountId, id, { eventId })
    return backTo(reply, `/dashboard/webhooks/${id}`, 'replayed')
  })
}
