import type { FanoutEndpoint, FanoutEvent } from './webhook.types.js'

/** The domain of the address in a From header value (`Name <a@b.example>` or `a@b.example`), lower-cased. */
export function fromDomain(fromHeader: string): string {
  const end = fromHeader.lastIndexOf('>')
  const start = end >= 0 ? fromHeader.lastIndexOf('<', end) : -1
  const address = start >= 0 ? fromHeader.slice(start + 1, end) : fromHeader
  const at = address.lastIndexOf('@')
  return at >= 0
    ? address
        .slice(at + 1)
        .trim()
        .toLowerCase()
    : ''
}

/** Whether an endpoint wants an event: every filter it sets must hold, and it existed when the event happened. */
export function wants(endpoint: FanoutEndpoint, event: FanoutEvent): boolean {
  if (event.createdAt < endpoint.createdAt) return false
  if (endpoint.eventTypes.length > 0 && !endpoint.eventTypes.includes(event.type)) return false
  if (endpoint.streams.length > 0 && !endpoint.streams.includes(event.stream)) return false
  if (endpoint.domains.length > 0 && !endpoint.domains.includes(fromDomain(event.fromHeader))) return false
  for (const [key, value] of Object.entries(endpoint.tags)) if (event.tags[key] !== value) return false
  return true
}
