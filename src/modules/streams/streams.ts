/**
 * Streams are lanes: each has its own queue, worker concurrency, relay connections and an optional
 * rate cap, so a million-recipient broadcast never waits in front of a password reset. Their kind
 * says how their mail is treated: `broadcast` mail carries one-click unsubscribe (RFC 8058) and
 * the account's broadcast footer, and goes one recipient per SMTP transaction so that each
 * recipient gets a link of their own.
 */
export type StreamKind = 'transactional' | 'broadcast'

export interface StreamSpec {
  name: string
  kind: StreamKind
  /** Deliveries in progress at once per worker process, for this stream. */
  concurrency: number
  /** Relay connections per worker process for this stream. */
  pool: number
  /** At most `max` deliveries per `durationMs` in this stream's lane (BullMQ's limiter: across all workers), or no cap. */
  rate?: { max: number; durationMs: number }
  /** Recipients each account may send in this stream per UTC day / month, unless its own quota says otherwise. */
  quota?: { day?: number; month?: number }
}

export const STREAM_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/
export const BUILT_IN_STREAMS = ['transactional', 'broadcast'] as const

const RATE_UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 }

/**
 * Parses `STREAMS`: entries separated by `;`, each a name followed by `key=value` settings
 * (`kind`, `concurrency`, `pool`, `rate` as `N/s|m|h`, `day` and `month` quotas per account), e.g.
 * `broadcast concurrency=20 rate=100/s; newsletters kind=broadcast`. The two built-in streams are
 * always there; a setting left out takes the default given.
 */
export function parseStreams(raw: string, defaults: { concurrency: number; pool: number }): { streams: StreamSpec[]; problems: string[] } {
  const problems: string[] = []
  const byName = new Map<string, StreamSpec>()
  const base = (name: string): StreamSpec => ({
    name,
    kind: name === 'broadcast' ? 'broadcast' : 'transactional',
    concurrency: defaults.concurrency,
    pool: defaults.pool,
  })
  for (const name of BUILT_IN_STREAMS) byName.set(name, base(name))
  for (const entry of raw.split(';').map((e) => e.trim())) {
    if (entry === '') continue
    const [name = '', ...settings] = entry.split(/\s+/)
    if (!STREAM_NAME_RE.test(name)) {
      problems.push(`"${name}" is not a stream name: lowercase letters, digits, - and _, starting with a letter, at most 32`)
      continue
    }
    const spec = byName.get(name) ?? base(name)
    for (const setting of settings) {
      const [key, value = ''] = setting.split('=', 2)
      const n = Number(value)
      if (key === 'kind' && (value === 'transactional' || value === 'broadcast')) {
        if (BUILT_IN_STREAMS.includes(name as never) && value !== spec.kind)
          problems.push(`${name}: the kind of a built-in stream cannot change`)
        else spec.kind = value
      } else if ((key === 'concurrency' || key === 'pool') && Number.isInteger(n) && n >= 1 && n <= 1000) {
        spec[key] = n
      } else if ((key === 'day' || key === 'month') && Number.isInteger(n) && n >= 1) {
        spec.quota = { ...spec.quota, [key]: n }
      } else if (key === 'rate' && /^\d+\/[smh]$/.test(value)) {
        const [max, unit = 's'] = value.split('/')
        const count = Number(max)
        if (count >= 1) spec.rate = { max: count, durationMs: RATE_UNITS[unit] as number }
        else problems.push(`${name}: rate must be at least 1 per unit`)
      } else {
        problems.push(
          `${name}: "${setting}" is not a stream setting (kind=transactional|broadcast, concurrency=1-1000, pool=1-1000, rate=N/s|N/m|N/h, day=N, month=N)`,
        )
      }
    }
    byName.set(name, spec)
  }
  return { streams: [...byName.values()], problems }
}

/** What callers ask of the configured streams. */
export interface Streams {
  names: string[]
  has(name: string): boolean
  isBroadcast(name: string): boolean
  get(name: string): StreamSpec | undefined
}

export function streamsOf(specs: StreamSpec[]): Streams {
  const map = new Map(specs.map((s) => [s.name, s]))
  return {
    names: specs.map((s) => s.name),
    has: (name) => map.has(name),
    // A stream no longer configured (mail accepted before a restart) is treated as transactional.
    isBroadcast: (name) => map.get(name)?.kind === 'broadcast',
    get: (name) => map.get(name),
  }
}

/** Streams as configured by default: the two built-in ones. */
export const DEFAULT_STREAMS: Streams = streamsOf(parseStreams('', { concurrency: 50, pool: 10 }).streams)
