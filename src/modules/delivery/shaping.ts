import type { TlsPolicy } from './relay-target.js'
import { checkRuleSpecs, compileRules, type RuleSpec } from './reply-rules.config.js'
import { BUILT_IN_RULES, type ReplyRule } from './reply-rules.js'

/**
 * Per-destination policy in MX mode: which route a domain takes, the TLS it demands, and how
 * hard Hikyaku may push it. A destination is a mailbox provider (a profile, matched by domain or
 * by the provider's MX host names) or else the recipient domain itself; limits are shared by every
 * domain of a destination, since that is what the provider counts.
 */
export interface Limits {
  maxConnections: number
  messagesPerConnection: number
  /** RCPT commands one connection carries at most (docomo counts them per session); 0: no limit. */
  recipientsPerConnection: number
  /** Messages per second over all connections; 0 means no limit. */
  ratePerSecond: number
  /** First pause after a throttling reply; each further one doubles, up to maxPauseMs. */
  pauseMs: number
  maxPauseMs: number
}

export interface DomainSettings extends Partial<Limits> {
  route?: 'relay' | 'mx'
  tls?: Exclude<TlsPolicy, 'none'>
  warmup?: number[]
}

interface Profile extends Partial<Limits> {
  domains: string[]
  mxSuffixes?: string[]
  tls?: Exclude<TlsPolicy, 'none'>
  /** Messages per day on the first, second, … sending day from this IP; the last holds after. */
  warmup?: number[]
}

export interface ShapingFile {
  defaults?: Partial<Limits> & { tls?: Exclude<TlsPolicy, 'none'>; warmup?: number[] }
  /** Reply rules of the operator's, read before the built-in ones (reply-rules.config.ts). */
  rules?: RuleSpec[]
  profiles?: Record<string, Partial<Profile>>
  domains?: Record<string, DomainSettings>
}

export interface DestinationPolicy extends Limits {
  destination: string
  tls: Exclude<TlsPolicy, 'none'>
  /** A warm-up schedule: messages per day on each sending day (the last entry holds after). */
  warmup?: number[]
  /** The reply rules: the operator's, then the built-in ones. */
  rules: readonly ReplyRule[]
  /**
   * The provider profile, when the destination is one. Its reply rules are applied (and its
   * profile-wide pauses taken) only for its own domains or when the host we talked to is one of
   * its MX hosts: anyone can list a provider's MX host among their own.
   */
  provider?: { name: string; domains: string[]; mxSuffixes: string[] }
}

/** Whether a reply came from the provider itself: its own domain, or one of its MX hosts. */
export function fromProvider(policy: DestinationPolicy | undefined, domain: string, host: string): boolean {
  const p = policy?.provider
  if (!p) return false
  const name = host.toLowerCase()
  return p.domains.includes(domain) || p.mxSuffixes.some((s) => name === s || name.endsWith(`.${s}`))
}

const DEFAULTS: Limits = {
  maxConnections: 10,
  messagesPerConnection: 100,
  recipientsPerConnection: 0,
  ratePerSecond: 0,
  pauseMs: 60_000,
  maxPauseMs: 3_600_000,
}

// The Japanese carriers take at most 100 recipients per session or message (docomo answers a
// 101st with `554 Transaction failed` and takes none).
const CARRIER: Partial<Limits> = { maxConnections: 5, messagesPerConnection: 10, recipientsPerConnection: 100, ratePerSecond: 5 }

// Starting points for the providers that throttle hardest; Japanese carriers accept few
// connections and want mail spread out. Override any of them in SHAPING_CONFIG.
const BUILT_IN: Record<string, Profile> = {
  google: { domains: ['gmail.com', 'googlemail.com'], mxSuffixes: ['google.com', 'googlemail.com'], maxConnections: 20, ratePerSecond: 50 },
  microsoft: {
    domains: ['outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'outlook.jp', 'hotmail.co.jp'],
    mxSuffixes: ['outlook.com'],
    maxConnections: 10,
    ratePerSecond: 20,
  },
  yahoo: {
    domains: ['yahoo.com', 'ymail.com', 'rocketmail.com', 'aol.com'],
    mxSuffixes: ['yahoodns.net'],
    maxConnections: 10,
    messagesPerConnection: 20,
    ratePerSecond: 10,
  },
  docomo: { domains: ['docomo.ne.jp'], mxSuffixes: ['docomo.ne.jp'], ...CARRIER },
  kddi: { domains: ['ezweb.ne.jp', 'au.com'], mxSuffixes: ['ezweb.ne.jp', 'au.com'], ...CARRIER },
  softbank: { domains: ['softbank.ne.jp', 'i.softbank.jp'], ...CARRIER },
}

/** Hosts the built-in providers' replies link to (their removal and help pages). */
const REPLY_HOSTS: Record<string, string[]> = {
  google: ['google.com', 'gmail.com'],
  microsoft: ['microsoft.com', 'office.com', 'office365.com', 'outlook.com'],
  yahoo: ['yahoo.com', 'yahooinc.com', 'yahoo.co.jp', 'aol.com'],
  apple: ['apple.com', 'icloud.com'],
  docomo: ['docomo.ne.jp', 'nttdocomo.co.jp'],
  kddi: ['au.com', 'kddi.com', 'ezweb.ne.jp'],
  softbank: ['softbank.jp', 'softbank.ne.jp'],
}

export function createShaping(mode: 'relay' | 'mx', file: ShapingFile = {}) {
  const defaults = { ...DEFAULTS, ...pick(file.defaults) }
  const defaultTls = file.defaults?.tls ?? 'opportunistic'
  const profiles: Record<string, Profile> = { ...BUILT_IN }
  for (const [name, p] of Object.entries(file.profiles ?? {})) {
    profiles[name] = { ...(profiles[name] ?? { domains: [] }), ...p } as Profile
  }
  const domains = Object.fromEntries(Object.entries(file.domains ?? {}).map(([d, s]) => [d.toLowerCase(), s]))
  const rules: readonly ReplyRule[] = [...compileRules(file.rules ?? []), ...BUILT_IN_RULES]

  const profileOf = (domain: string, mxHosts: string[]): string | undefined =>
    Object.entries(profiles).find(
      ([, p]) => p.domains.includes(domain) || mxHosts.some((h) => p.mxSuffixes?.some((s) => h === s || h.endsWith(`.${s}`))),
    )?.[0]

  return {
    /** The provider profiles (built in and configured): each is one destination, `profile:<name>`. */
    profileNames: (): string[] => Object.keys(profiles),

    /** A profile's own domains, MX host suffixes and help-page hosts: the host names its replies may name. */
    profileHosts: (name: string): string[] => [
      ...(profiles[name]?.domains ?? []),
      ...(profiles[name]?.mxSuffixes ?? []),
      ...(REPLY_HOSTS[name] ?? []),
    ],

    /** A profile's connection and rate limits (its own over the defaults), for the destinations view. */
    profileLimits(name: string): Pick<Limits, 'maxConnections' | 'ratePerSecond'> {
      const merged = { ...defaults, ...pick(profiles[name]) }
      return { maxConnections: merged.maxConnections, ratePerSecond: merged.ratePerSecond }
    },

    /** The class of the rule with this id (built-in or configured), for showing what fired. */
    ruleClass: (id: string) => rules.find((r) => r.id === id)?.class,

    /** `relay` or the recipient's domain (an MX route), per DELIVERY_MODE and per-domain overrides. */
    routeFor(address: string): string {
      const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase()
      const route = domains[domain]?.route ?? mode
      return route === 'relay' ? 'relay' : domain
    },

    /** The policy for a recipient domain, given the MX host names it resolved to (for provider groups). */
    policyFor(domain: string, mxHosts: string[] = []): DestinationPolicy {
      const own = domains[domain]
      // A domain given limits of its own is a destination of its own: it must not share (and
      // skew) the counters of a provider's other domains.
      // A domain with limits or a warm-up of its own is its own destination, not the profile's.
      const profile = Object.keys(pick(own)).length > 0 || own?.warmup ? undefined : profileOf(domain, mxHosts)
      return {
        ...defaults,
        ...pick(profile ? profiles[profile] : undefined),
        ...pick(own),
        destination: profile ? `profile:${profile}` : domain,
        rules,
        tls: own?.tls ?? (profile ? profiles[profile]?.tls : undefined) ?? defaultTls,
        ...warmupOf(own?.warmup ?? (profile ? profiles[profile]?.warmup : undefined) ?? file.defaults?.warmup),
        ...(profile
          ? { provider: { name: profile, domains: profiles[profile]?.domains ?? [], mxSuffixes: profiles[profile]?.mxSuffixes ?? [] } }
          : {}),
      }
    },
  }
}

export type Shaping = ReturnType<typeof createShaping>

const warmupOf = (schedule: number[] | undefined) => (schedule && schedule.length > 0 ? { warmup: schedule } : {})

/** Only the limit fields, so a profile's domain lists never leak into a policy. */
function pick(source: Partial<Limits> | undefined): Partial<Limits> {
  const out: Partial<Limits> = {}
  for (const key of Object.keys(DEFAULTS) as Array<keyof Limits>) {
    const value = source?.[key]
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) out[key] = value
  }
  return out
}

/** Checks the parsed SHAPING_CONFIG file; returns the problems found (empty when fine). */
export function checkShapingFile(value: unknown): string[] {
  const problems: string[] = []
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['must be a JSON object']
  const file = value as Record<string, unknown>
  for (const key of Object.keys(file))
    if (!['defaults', 'profiles', 'domains', 'rules'].includes(key)) problems.push(`unknown key "${key}"`)
  if (file.rules !== undefined) problems.push(...checkRuleSpecs(file.rules))
  const checkSettings = (where: string, s: unknown) => {
    if (typeof s !== 'object' || s === null) return problems.push(`${where} must be an object`)
    for (const [k, v] of Object.entries(s)) {
      if (k in DEFAULTS && (typeof v !== 'number' || v < 0)) problems.push(`${where}.${k} must be a number ≥ 0`)
      // A transaction holds up to 100 recipients: a smaller cap per connection could not be kept.
      else if (k === 'recipientsPerConnection' && v !== 0 && (v as number) < 100)
        problems.push(`${where}.recipientsPerConnection must be 0 (no limit) or at least 100`)
      else if (k === 'route' && !where.startsWith('domains.')) problems.push(`${where}.route: routes are set per domain, under "domains"`)
      else if (k === 'route' && v !== 'relay' && v !== 'mx') problems.push(`${where}.route must be relay or mx`)
      else if (k === 'tls' && !['opportunistic', 'require', 'verify'].includes(String(v)))
        problems.push(`${where}.tls must be opportunistic, require or verify`)
      else if (k === 'warmup' && !(Array.isArray(v) && v.length > 0 && v.every((n) => Number.isInteger(n) && n > 0)))
        problems.push(`${where}.warmup must be a list of messages per day, whole numbers > 0`)
      else if (!(k in DEFAULTS) && !['route', 'tls', 'domains', 'mxSuffixes', 'warmup'].includes(k))
        problems.push(`${where}: unknown key "${k}"`)
    }
  }
  if (file.defaults !== undefined) checkSettings('defaults', file.defaults)
  for (const [name, p] of Object.entries((file.profiles as Record<string, unknown>) ?? {})) checkSettings(`profiles.${name}`, p)
  for (const [name, d] of Object.entries((file.domains as Record<string, unknown>) ?? {})) checkSettings(`domains.${name}`, d)
  return problems
}
