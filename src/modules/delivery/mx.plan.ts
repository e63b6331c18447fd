import { type Dns, DnsError } from '../../infra/dns.js'
import { isPrivateAddress } from '../../lib/ip.js'

/**
 * Where mail for a domain goes (RFC 5321 §5.1, RFC 7505): its MX hosts by preference (equal
 * preferences shuffled, so load spreads), or the domain itself when it has no MX (implicit MX),
 * or nowhere — a null MX or a nonexistent domain is a permanent answer, a DNS failure a
 * temporary one.
 */
export type MxPlan =
  | { kind: 'hosts'; hosts: Array<{ name: string; priority: number; addresses: string[] }> }
  | { kind: 'null_mx' }
  | { kind: 'nxdomain' }
  | { kind: 'no_address' }
  | { kind: 'private'; addresses: string[] }
  | { kind: 'temp_error'; message: string }

export interface MxPlanner {
  plan(domain: string): Promise<MxPlan>
}

const POSITIVE_TTL_MS = 5 * 60_000
const NEGATIVE_TTL_MS = 60_000
const MAX_CACHED = 10_000

export function createMxPlanner(deps: { dns: Dns; allowPrivate: boolean; random?: () => number; now?: () => number }): MxPlanner {
  const random = deps.random ?? Math.random
  const now = deps.now ?? Date.now
  const cache = new Map<string, { plan: MxPlan; expires: number }>()

  async function lookup(domain: string): Promise<MxPlan> {
    let records: Array<{ exchange: string; priority: number }>
    try {
      records = await deps.dns.mx(domain)
    } catch (err) {
      if (!(err instanceof DnsError)) throw err
      if (err.kind === 'nxdomain') return { kind: 'nxdomain' }
      if (err.kind === 'nodata') records = [{ exchange: domain, priority: 0 }]
      else return { kind: 'temp_error', message: err.message }
    }
    if (records.some((r) => r.exchange === '' || r.exchange === '.')) return { kind: 'null_mx' }
    const ordered = shuffleWithin(records, random).sort((a, b) => a.priority - b.priority)
    const hosts: Array<{ name: string; priority: number; addresses: string[] }> = []
    const refused: string[] = []
    let tempError: string | undefined
    for (const mx of ordered) {
      let addresses: string[]
      try {
        addresses = await deps.dns.addresses(mx.exchange)
      } catch (err) {
        if (!(err instanceof DnsError)) throw err
        tempError ??= err.message
        continue
      }
      const allowed = deps.allowPrivate ? addresses : addresses.filter((a) => !isPrivateAddress(a))
      refused.push(...addresses.filter((a) => !allowed.includes(a)))
      if (allowed.length > 0) hosts.push({ name: mx.exchange.toLowerCase(), priority: mx.priority, addresses: allowed })
    }
    if (hosts.length > 0) return { kind: 'hosts', hosts }
    if (tempError) return { kind: 'temp_error', message: tempError }
    return refused.length > 0 ? { kind: 'private', addresses: refused } : { kind: 'no_address' }
  }

  // Deliveries to one domain arriving together share one lookup.
  const inflight = new Map<string, Promise<MxPlan>>()

  return {
    async plan(domain) {
      const hit = cache.get(domain)
      if (hit && hit.expires > now()) return hit.plan
      const pending = inflight.get(domain)
      if (pending) return pending
      const lookingUp = lookup(domain).finally(() => inflight.delete(domain))
      inflight.set(domain, lookingUp)
      const plan = await lookingUp
      if (plan.kind !== 'temp_error') {
        if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string)
        cache.set(domain, { plan, expires: now() + (plan.kind === 'hosts' ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS) })
      }
      return plan
    },
  }
}

/** Shuffles records, so that sorting by priority (a stable sort) leaves equal priorities in random order. */
function shuffleWithin<T>(items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}
