import type { FastifyInstance } from 'fastify'
import { validationFailed } from '../../lib/errors.js'
import type { ApiKeyService } from '../../modules/api-keys/api-key.service.js'
import { type CampaignService, campaignRates } from '../../modules/campaigns/campaign.service.js'
import type { DestinationsView } from '../../modules/delivery/destinations.view.js'
import type { DomainService } from '../../modules/domains/domain.service.js'
import { cursorId, encodeCursor, iso, nextCursor, presentApiKey, presentDomain } from '../presenters.js'
import { backTo, field, idOf, page, sessionOf } from './dashboard.js'

const PAGE = 50
const cursorOf = (request: { query: unknown }) => {
  const cursor = (request.query as { cursor?: string }).cursor
  return cursor ? cursorId(cursor) : undefined
}

/** Campaigns (progress, pause, resume, cancel), domains (records, verify), API keys, destinations. */
export function managePages(
  app: FastifyInstance,
  deps: { campaigns: CampaignService; domains: DomainService; apiKeys: ApiKeyService; destinations: DestinationsView },
): void {
  app.get('/campaigns', { schema: { hide: true } }, async (request, reply) => {
    const rows = await deps.campaigns.list(sessionOf(request).principal.accountId, cursorOf(request), PAGE)
    const next = nextCursor(rows, PAGE)
    return page(request, reply, 'campaigns', {
      title: 'Campaigns',
      page: 'campaigns',
      campaigns: rows.map((c) => ({ ...c, createdAt: c.createdAt.toISOString() })),
      next: next ? `/dashboard/campaigns?cursor=${encodeURIComponent(next)}` : null,
    })
  })

  app.get('/campaigns/:id', { schema: { hide: true } }, async (request, reply) => {
    const { campaign, counts } = await deps.campaigns.get(sessionOf(request).principal.accountId, idOf(request, 'Campaign'))
    return page(request, reply, 'campaign', {
      title: campaign.name,
      page: 'campaigns',
      campaign: { ...campaign, scheduledAt: iso(campaign.scheduledAt), createdAt: campaign.createdAt.toISOString() },
      recipients: Object.entries(counts.recipients).map(([status, n]) => ({ status, n })),
      counts,
      rates: campaignRates(counts),
    })
  })

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post(`/campaigns/:id/${action}`, { schema: { hide: true } }, async (request, reply) => {
      const id = idOf(request, 'Campaign')
      await deps.campaigns[action](sessionOf(request).principal.accountId, id)
      return backTo(reply, `/dashboard/campaigns/${id}`, action === 'cancel' ? 'campaign-cancelled' : `${action}d`)
    })
  }

  app.get('/domains', { schema: { hide: true } }, async (request, reply) => {
    const rows = await deps.domains.list(sessionOf(request).principal.accountId, { limit: PAGE, before: cursorOf(request) })
    const next = nextCursor(rows, PAGE)
    return page(request, reply, 'domains', {
      title: 'Domains',
      page: 'domains',
      domains: rows.map(presentDomain),
      next: next ? `/dashboard/domains?cursor=${encodeURIComponent(next)}` : null,
    })
  })

  app.get('/domains/:id', { schema: { hide: true } }, async (request, reply) => {
    const domain = presentDomain(await deps.domains.get(sessionOf(request).principal.accountId, idOf(request, 'Domain')))
    return page(request, reply, 'domain', { title: domain.name, page: 'domains', domain })
  })

  app.post('/domains/:id/verify', { schema: { hide: true } }, async (request, reply) => {
    const id = idOf(request, 'Domain')
    await deps.domains.verify(sessionOf(request).principal.accountId, id)
    return backTo(reply, `/dashboard/domains/${id}`, 'verified')
  })

  app.get('/keys', { schema: { hide: true } }, async (request, reply) => {
    const rows = await deps.apiKeys.list(sessionOf(request).principal.accountId, { limit: PAGE, before: cursorOf(request) })
    const next = rows.length === PAGE ? encodeCursor(rows[rows.length - 1]?.id as string) : null
    return page(request, reply, 'keys', {
      title: 'API keys',
      page: 'keys',
      keys: rows.map(presentApiKey),
      current: sessionOf(request).principal.apiKeyId,
      next: next ? `/dashboard/keys?cursor=${encodeURIComponent(next)}` : null,
    })
  })

  app.post('/keys', { schema: { hide: true } }, async (request, reply) => {
    const session = sessionOf(request)
    const scope = field(request, 'scope')
    const name = field(request, 'name')?.trim() || null
    if (scope !== 'full' && scope !== 'send') throw validationFailed([{ path: '/scope', message: 'must be full or send' }])
    if (name && name.length > 100) throw validationFailed([{ path: '/name', message: 'must be at most 100 characters' }])
    const created = await deps.apiKeys.create({ accountId: session.principal.accountId, scope, name })
    const rows = await deps.apiKeys.list(session.principal.accountId, { limit: PAGE })
    // The new key is shown on this one answer only; it is never stored in the clear.
    return page(request, reply, 'keys', {
      title: 'API keys',
      page: 'keys',
      keys: rows.map(presentApiKey),
      current: session.principal.apiKeyId,
      created: created.key,
    })
  })

  app.post('/keys/:id/revoke', { schema: { hide: true } }, async (request, reply) => {
    await deps.apiKeys.revoke(sessionOf(request).principal.accountId, idOf(request, 'API key'))
    return backTo(reply, '/dashboard/keys', 'key-revoked')
  })

  app.get('/destinations', { schema: { hide: true } }, async (request, reply) => {
    const list = await deps.destinations.list(sessionOf(request).principal.accountId)
    return page(request, reply, 'destinations', {
      title: 'Destinations',
      page: 'destinations',
      destinations: list.map((d) => ({
        destination: d.destination,
        pausedUntil: iso(d.pausedUntil),
        concurrency: Math.round(d.concurrency * 100),
        connections: d.connections,
        waiting: d.waiting,
        maxConnections: d.maxConnections,
        rate: d.ratePerSecond > 0 ? `${d.ratePerSecond}/s` : 'no limit',
        lastReply: d.lastReply ? `${d.lastReply.text} (${d.lastReply.at.toISOString()})` : null,
        lastRule: d.lastRule ? { id: d.lastRule.id, class: d.lastRule.class, at: d.lastRule.at.toISOString() } : null,
        heldSenders: d.heldSenders.map((h) => `${h.domain} until ${h.until.toISOString()}`),
        heldRecipientDomains: d.heldRecipientDomains,
      })),
    })
  })
}
