import { type Sink, startSink } from '../../test/helpers/smtp-sink.js'

/**
 * The receiving side of the soak: the test SMTP sink, scripted per recipient by the address's
 * local part (`<behaviour>-<n>@chaos.test`), plus windows in which it misbehaves for everyone.
 */
export const BEHAVIOURS = {
  /** 250. */
  ok: 40,
  /** 450 4.2.1 at RCPT on its first scripted try, then 250: must end `sent`. */
  soft: 12,
  /** 550 5.1.1 at RCPT, always: must end `bounced`, never reach the sink. */
  hard: 10,
  /** The connection dropped after the final dot on its first try: may arrive twice, then must be flagged. */
  drop: 8,
  /** The reply to the final dot comes after 2-4 s. */
  slow: 15,
  /** 421 4.7.0 at RCPT on its first scripted try (the connection closes), then 250. */
  throttle: 15,
} as const satisfies Record<string, number>

export type Behaviour = keyof typeof BEHAVIOURS
export const DOMAIN = 'chaos.test'

/** What the sink does to everyone for a while. */
export type WindowKind = 'all-451' | 'stall-rcpt' | 'stall-data' | 'drop-after-dot'

/** Held past SMTP_TIMEOUT (5 s): a timeout before DATA, nothing delivered. */
const RCPT_STALL_MS = 7_000
/** Held past SMTP_DATA_TIMEOUT (8 s): the message is here, the client gives up waiting. */
const DATA_STALL_MS = 10_000

export function behaviourOf(address: string): { behaviour: Behaviour; n: number } | undefined {
  const match = /^([a-z]+)-(\d+)@/.exec(address.toLowerCase())
  if (!match || !((match[1] as string) in BEHAVIOURS)) return undefined
  return { behaviour: match[1] as Behaviour, n: Number(match[2]) }
}

export interface Arrival {
  address: string
  at: number
  /** What the sink did with it: accepted, dropped the connection, or held its reply. */
  action: string
}

export async function startReceiver() {
  let window: { kind: WindowKind; until: number } | undefined
  const scripted = new Map<string, number>()
  const delivered = new Map<string, number>()
  const arrivals: Arrival[] = []
  const windowNow = () => (window && Date.now() < window.until ? window.kind : undefined)
  /** True the first time the address's own behaviour applies (not the window's). */
  const firstTry = (counts: Map<string, number>, address: string) => {
    const n = (counts.get(address) ?? 0) + 1
    counts.set(address, n)
    return n === 1
  }

  const sink: Sink = await startSink({
    rcpt: (address) => {
      const w = windowNow()
      if (w === 'all-451') return { code: 451, message: '4.3.2 chaos: service unavailable, try later' }
      if (w === 'stall-rcpt') return { stallMs: RCPT_STALL_MS }
      const kind = behaviourOf(address)?.behaviour
      if (kind === 'hard') return { code: 550, message: '5.1.1 chaos: no such user' }
      if (kind === 'soft' && firstTry(scripted, address)) return { code: 450, message: '4.2.1 chaos: mailbox busy, try later' }
      if (kind === 'throttle' && firstTry(scripted, address)) return { code: 421, message: '4.7.0 chaos: too many messages, slow down' }
      return undefined
    },
    data: (message) => {
      const address = message.to[0] ?? ''
      const w = windowNow()
      const own = behaviourOf(address)
      const action =
        w === 'drop-after-dot'
          ? ({ kind: 'drop' } as const)
          : w === 'stall-data'
            ? ({ kind: 'stall', ms: DATA_STALL_MS } as const)
            : own?.behaviour === 'drop' && firstTry(delivered, address)
              ? ({ kind: 'drop' } as const)
              : own?.behaviour === 'slow'
                ? ({ kind: 'stall', ms: 2_000 + (own.n % 3) * 1_000 } as const)
                : ({ kind: 'accept' } as const)
      for (const to of message.to) arrivals.push({ address: to, at: Date.now(), action: action.kind })
      return action
    },
  })

  return {
    url: sink.url,
    port: sink.port,
    /** Every message the sink received in full (accepted, dropped after the dot, or held). */
    arrivals,
    /** Copies received per address. */
    counts(): Map<string, number> {
      const counts = new Map<string, number>()
      for (const m of sink.received) for (const to of m.to) counts.set(to, (counts.get(to) ?? 0) + 1)
      return counts
    },
    get received() {
      return sink.received.length
    },
    get connections() {
      return sink.connections
    },
    /** Misbehaves for everyone for `ms`; resolves once the window has closed. */
    async misbehave(kind: WindowKind, ms: number): Promise<void> {
      window = { kind, until: Date.now() + ms }
      await new Promise((resolve) => setTimeout(resolve, ms))
      window = undefined
    },
    /** Back to each address's own behaviour at once. */
    calm() {
      window = undefined
    },
    close: () => sink.close(),
  }
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>
