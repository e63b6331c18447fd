import type { EventRepository, FeedPosition, FeedRow } from './event.repository.js'

export interface FeedPage {
  events: FeedRow[]
  /** Where the next poll resumes: after the last event returned, or where this one started. */
  next: FeedPosition | undefined
}

/** The account's events feed (GET /v1/events). */
export function createEventService(deps: { repository: EventRepository }) {
  return {
    async feed(accountId: string, options: { after?: FeedPosition; types?: readonly string[]; limit: number }): Promise<FeedPage> {
      const { rows: events, scanned } = await deps.repository.feed(accountId, options.after, options.types, options.limit)
      const last = events[events.length - 1]
      // A filtered page that is not full looked further than its last event: resume from there.
      return { events, next: scanned ?? (last ? { txid: last.txid, id: last.id } : options.after) }
    },
  }
}

export type EventService = ReturnType<typeof createEventService>
