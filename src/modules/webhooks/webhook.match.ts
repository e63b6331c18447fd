import { fromDomain } from '../../lib/address.js'
import type { FanoutEndpoint, FanoutEvent } from './webhook.types.js'

/** Whether an endpoint wants an event: every filter it sets must hold, and it existed when the event happened. */
export function wants(endpoint: FanoutEndpoint, event: FanoutEvent): boolean {
  if (event.createdAt < endpoint.createdAt) return false
  if (endpoint.eventTypes.length > 0 && !endpoint.eventTypes.includes(event.type)) return false
  if (endpoint.streams.length > 0 && !endpoint.streams.includes(event.stream)) return false
  if (endpoint.domains.length > 0 && !endpoint.domains.includes(fromDomain(event.fromHeader))) return false
  for (const [key, value] of Object.entries(endpoint.tags)) if (event.tags[key] !== value) return false
  return true
}
