import { type ErrorDetail, notFound, validationFailed } from '../../lib/errors.js'
import type { SecretBox } from '../../lib/secret-box.js'
import { uuidv7, uuidv7LowerBound } from '../../lib/uuid.js'
import { EVENT_TYPES } from '../events/event.types.js'
import { BUILT_IN_STREAMS } from '../streams/streams.js'
import type { EndpointRepository } from './endpoint.repository.js'
import type { WebhookRepository } from './webhook.repository.js'
import { webhookSecretAad } from './webhook.sender.js'
import { newWebhookSecret } from './webhook.sign.js'
import type { EndpointInput, WebhookEndpointView, WebhookFilters } from './webhook.types.js'

const MAX_FILTER_ITEMS = 50
const MAX_TAGS = 10
const DEFAULT_OVERLAP_MS = 24 * 3_600_000
export const MAX_OVERLAP_MS = 7 * 24 * 3_600_000
export const MAX_REPLAY = 10_000

/** Checks a URL before it is stored (the address it resolves to is checked again at every request). */
export type UrlCheck = (url: string) => { ok: true } | { ok: false; reason: string }

/** Webhook endpoints: their filters, secrets (shown once), request log and replays (full-scope keys). */
export function createWebhookService(deps: {
  endpoints: EndpointRepository
  webhooks: WebhookRepository
  box: SecretBox
  checkUrl: UrlCheck
  /** The configured stream names an endpoint may filter on. */
  streams?: readonly string[]
}) {
  const { endpoints, webhooks, box } = deps

  function filters(input: Partial<WebhookFilters>, details: ErrorDetail[]): Partial<WebhookFilters> {
    const out: Partial<WebhookFilters> = {}
    const list = (name: 'eventTypes' | 'streams' | 'domains', path: string, known?: readonly string[]) => {
      const values = input[name]
      if (values === undefined) return
      if (values.length > MAX_FILTER_ITEMS) details.push({ path, message: `has more than ${MAX_FILTER_ITEMS} entries` })
      const normal = [...new Set(values.map((v) => v.trim().toLowerCase()))]
      for (const v of normal) {
        if (known && !known.includes(v)) details.push({ path, message: `"${v}" is not one of ${known.join(', ')}` })
        if (!known && !/^[a-z0-9.-]{1,253}$/.test(v)) details.push({ path, message: `"${v}" is not a domain name` })
      }
      out[name] = normal
    }
    list('eventTypes', '/event_types', EVENT_TYPES)
    list('streams', '/streams', deps.streams ?? BUILT_IN_STREAMS)
    list('domains', '/domains')
    if (input.tags !== undefined) {
      if (Object.keys(input.tags).length > MAX_TAGS) details.push({ path: '/tags', message: `has more than ${MAX_TAGS} tags` })
      out.tags = input.tags
    }
    return out
  }

  function checkUrl(url: string | undefined, details: ErrorDetail[]): void {
    if (url === undefined) return
    const checked = deps.checkUrl(url)
    if (!checked.ok) details.push({ path: '/url', message: checked.reason })
  }

  const found = <T>(value: T | undefined): T => {
    if (value === undefined) throw notFound('Webhook endpoint')
    return value
  }

  return {
    /** Creates an endpoint; its signing secret is in the answer and never shown again. */
    async create(accountId: string, input: EndpointInput): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
      const details: ErrorDetail[] = []
      checkUrl(input.url, details)
      const f = filters(input, details)
      if (details.length > 0) throw validationFailed(details)
      const id = uuidv7()
      const secret = newWebhookSecret()
      const endpoint = await endpoints.create(
        accountId,
        id,
        {
          url: input.url,
          description: input.description ?? null,
          eventTypes: f.eventTypes ?? [],
          streams: f.streams ?? [],
          domains: f.domains ?? [],
          tags: f.tags ?? {},
        },
        box.seal(secret, webhookSecretAad(id)),
      )
      return { endpoint, secret }
    },

    list: (accountId: string, limit: number, before?: string) => endpoints.list(accountId, limit, before),
    get: async (accountId: string, id: string) => found(await endpoints.get(accountId, id)),

    async update(accountId: string, id: string, patch: Partial<EndpointInput> & { enabled?: boolean }): Promise<WebhookEndpointView> {
      const details: ErrorDetail[] = []
      checkUrl(patch.url, details)
      const f = filters(patch, details)
      if (details.length > 0) throw validationFailed(details)
      return found(await endpoints.update(accountId, id, { ...f, url: patch.url, description: patch.description, enabled: patch.enabled }))
    },

    async remove(accountId: string, id: string): Promise<void> {
      if (!(await endpoints.remove(accountId, id))) throw notFound('Webhook endpoint')
    },

    /** A new secret, shown once; requests are signed with both until `overlapMs` has passed. */
    async rotateSecret(
      accountId: string,
      id: string,
      overlapMs = DEFAULT_OVERLAP_MS,
    ): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
      const secret = newWebhookSecret()
      const endpoint = found(await endpoints.rotate(accountId, id, box.seal(secret, webhookSecretAad(id)), overlapMs))
      return { endpoint, secret }
    },

    async attempts(accountId: string, id: string, limit: number, before?: string) {
      found(await endpoints.get(accountId, id))
      return webhooks.attempts(id, limit, before)
    },

    /** Sends one event, or the events of a time range, to the endpoint again. */
    async replay(accountId: string, id: string, sel: { eventId?: string; from?: Date; to?: Date }): Promise<number> {
      found(await endpoints.get(accountId, id))
      if (!sel.eventId && !sel.from) throw validationFailed([{ path: '/', message: 'give event_id, or a time range with from (and to)' }])
      if (sel.from && sel.to && sel.to <= sel.from) throw validationFailed([{ path: '/to', message: 'must be after from' }])
      const queued = await webhooks.replay(
        accountId,
        id,
        {
          eventId: sel.eventId,
          fromId: sel.from ? uuidv7LowerBound(sel.from) : undefined,
          toId: sel.to ? uuidv7LowerBound(sel.to) : undefined,
        },
        MAX_REPLAY,
      )
      if (sel.eventId && queued === 0) throw notFound('Event')
      return queued
    },
  }
}

export type WebhookService = ReturnType<typeof createWebhookService>
