import { Resolver } from 'node:dns/promises'

/**
 * DNS lookups through configurable resolvers (DNS_SERVERS), so tests and private setups can
 * point Hikyaku at their own server. Failures are classified the way mail delivery needs them.
 */
export type DnsFailure = 'nxdomain' | 'nodata' | 'servfail' | 'timeout'

export class DnsError extends Error {
  constructor(
    readonly kind: DnsFailure,
    readonly query: string,
    readonly code: string | undefined,
  ) {
    super(`DNS ${kind} for ${query}${code ? ` (${code})` : ''}`)
    this.name = 'DnsError'
  }
}

export interface MxRecord {
  exchange: string
  priority: number
}

export interface Dns {
  mx(domain: string): Promise<MxRecord[]>
  /** A and AAAA addresses; an empty list when the name has neither. */
  addresses(host: string): Promise<string[]>
  /** TXT records, each joined from its strings. */
  txt(name: string): Promise<string[]>
  /** The PTR names of an address; an empty list when it has none. */
  reverse(address: string): Promise<string[]>
}

const KIND_BY_CODE: Record<string, DnsFailure> = {
  ENOTFOUND: 'nxdomain',
  ENODATA: 'nodata',
  ESERVFAIL: 'servfail',
  ETIMEOUT: 'timeout',
  ECONNREFUSED: 'servfail',
  EREFUSED: 'servfail',
}

export function createDns(options: { servers?: string[]; timeoutMs: number }): Dns {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: 2 })
  if (options.servers?.length) resolver.setServers(options.servers)

  const wrap = async <T>(name: string, lookup: () => Promise<T>): Promise<T> => {
    try {
      return await lookup()
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new DnsError(KIND_BY_CODE[code ?? ''] ?? 'servfail', name, code)
    }
  }
  const orEmpty = async (lookup: () => Promise<string[]>): Promise<string[]> => {
    try {
      return await lookup()
    } catch (err) {
      if (err instanceof DnsError && (err.kind === 'nodata' || err.kind === 'nxdomain')) return []
      throw err
    }
  }

  return {
    mx: (domain) => wrap(domain, () => resolver.resolveMx(domain)),
    async addresses(host) {
      // A failing AAAA lookup must not hide a good A record (and the other way round).
      const [v4, v6] = await Promise.allSettled([
        orEmpty(() => wrap(host, () => resolver.resolve4(host))),
        orEmpty(() => wrap(host, () => resolver.resolve6(host))),
      ])
      if (v4.status === 'rejected' && v6.status === 'rejected') throw v4.reason
      return [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])]
    },
    txt: (name) => wrap(name, async () => (await resolver.resolveTxt(name)).map((parts) => parts.join(''))),
    reverse: (address) => orEmpty(() => wrap(address, () => resolver.reverse(address))),
  }
}
