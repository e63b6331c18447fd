import { randomUUID } from 'node:crypto'
import type { Logger } from '../../infra/logger.js'
import type { TransactionResult } from './delivery.types.js'
import type { DestinationLimiter } from './limiter.port.js'
import type { MxPlan, MxPlanner } from './mx.plan.js'
import type { DestinationPolicy, Shaping } from './shaping.js'
import { type Envelope, failure, type NodemailerError, openSession, type Session, transact } from './smtp-session.js'

/**
 * Delivery straight to recipient domains' MX hosts, paced per destination. Before a delivery is
 * claimed, `reserve` decides whether it may go now: a paused destination, an exhausted send rate
 * or no free connection slot answers "wait until", so the caller can put the job aside without
 * holding a worker. A connection holds one of the destination's slots (shared through Redis) for
 * as long as it is open, so the sessions a provider sees never exceed its limit.
 */
export interface MxTransportDeps {
  planner: MxPlanner
  shaping: Shaping
  limiter: DestinationLimiter
  port: number
  heloName: string
  timeoutMs: number
  localAddress?: string
  logger: Logger
  /** How long a slot lives without renewal (a crashed process frees its slots after this). */
  slotLeaseMs?: number
  /** An idle connection is closed (and its slot freed) after this long. */
  idleMs?: number
}

export interface MxTicket {
  domain: string
  plan: MxPlan
  policy?: DestinationPolicy
  /** Concurrency factor when reserved: below 1 the destination is recovering from throttling. */
  factor: number
  conn?: DestConn
  slot?: string
}

export type Reservation = { kind: 'go'; ticket: MxTicket } | { kind: 'wait'; until: number; reason?: 'waiting_rate_limit' }

interface DestConn extends Session {
  destination: string
  slot: string
  renew: NodeJS.Timeout
  idleTimer?: NodeJS.Timeout
  closed?: boolean
}

/** Waits this long before a delivery tries again for a slot or a rate token (jittered). */
const SHORT_WAIT_MS = 250
/** Waits longer than this are shown on the recipients as waiting_rate_limit. */
const VISIBLE_WAIT_MS = 2_000

export class MxTransport {
  private readonly idle = new Map<string, DestConn[]>()
  private readonly leaseMs: number

  constructor(private readonly deps: MxTransportDeps) {
    this.leaseMs = deps.slotLeaseMs ?? 60_000
  }

  async reserve(domain: string): Promise<Reservation> {
    const plan = await this.deps.planner.plan(domain)
    if (plan.kind !== 'hosts') return { kind: 'go', ticket: { domain, plan, factor: 1 } }
    const policy = this.deps.shaping.policyFor(
      domain,
      plan.hosts.map((h) => h.name),
    )
    const { limiter } = this.deps
    const now = Date.now()
    const state = await limiter.state(policy.destination)
    if (state.pausedUntil > now) return { kind: 'wait', until: state.pausedUntil, reason: 'waiting_rate_limit' }

    const rateWait = await limiter.reserveRate(policy.destination, policy.ratePerSecond)
    if (rateWait > 0) return { kind: 'wait', until: now + rateWait, reason: rateWait >= VISIBLE_WAIT_MS ? 'waiting_rate_limit' : undefined }

    const ticket: MxTicket = { domain, plan, policy, factor: state.factor }
    const conn = this.idle.get(policy.destination)?.pop()
    if (conn) {
      clearTimeout(conn.idleTimer)
      ticket.conn = conn
      return { kind: 'go', ticket }
    }
    const slot = randomUUID()
    if (await limiter.acquireSlot(policy.destination, slot, policy.maxConnections, this.leaseMs)) {
      ticket.slot = slot
      return { kind: 'go', ticket }
    }
    return { kind: 'wait', until: now + SHORT_WAIT_MS + Math.floor(Math.random() * SHORT_WAIT_MS) }
  }

  /** A throttling reply: the destination's concurrency halves and it pauses; returns the pause end. */
  async throttled(ticket: MxTicket): Promise<number> {
    if (!ticket.policy) return 0
    const { destination, pauseMs, maxPauseMs } = ticket.policy
    const until = await this.deps.limiter.throttled(destination, pauseMs, maxPauseMs)
    this.deps.logger.warn({ destination, until: new Date(until).toISOString() }, 'destination throttled us; pausing it')
    // Idle connections to a throttled destination would only be refused again.
    for (const c of [...(this.idle.get(destination) ?? [])]) await this.closeConn(c)
    return until
  }

  /** A success: a destination recovering from throttling gets one step of its concurrency back. */
  async succeeded(ticket: MxTicket): Promise<void> {
    if (ticket.policy && ticket.factor < 1) await this.deps.limiter.succeeded(ticket.policy.destination)
  }

  /** Gives back what a reservation holds when nothing was sent with it. */
  release(ticket: MxTicket): void {
    if (ticket.conn) this.keepIdle(ticket.conn, ticket.policy as DestinationPolicy)
    else if (ticket.slot && ticket.policy) void this.freeSlot(ticket.policy.destination, ticket.slot)
  }

  async send(ticket: MxTicket, envelope: Envelope, message: Buffer): Promise<TransactionResult> {
    const started = Date.now()
    const { plan, policy } = ticket
    if (plan.kind !== 'hosts' || !policy) return planFailure(ticket.domain, plan, started)
    let conn = ticket.conn
    for (let round = 0; ; round++) {
      if (!conn) {
        const opened = await this.connect(plan, policy, (ticket.slot ?? randomUUID()) as string, started)
        if ('ok' in opened) return opened
        conn = opened
      }
      const reused = conn.messages > 0
      const { result, bytesRead } = await transact(conn, envelope, message, started)
      if (result.ok && conn.messages < policy.messagesPerConnection) this.keepIdle(conn, policy)
      else void this.closeConn(conn)
      // A reused connection the server had already dropped: once more on a fresh one (same slot).
      if (!result.ok && reused && bytesRead === 0 && round === 0 && ['ECONNECTION', 'ESOCKET'].includes(result.errorCode ?? '')) {
        ticket.slot = await this.reacquire(policy)
        conn = undefined
        if (!ticket.slot) return result
        continue
      }
      return result
    }
  }

  /** Closes every idle connection (shutdown); connections in use close when their send ends. */
  async close(): Promise<void> {
    for (const list of this.idle.values()) for (const c of [...list]) await this.closeConn(c)
  }

  private async closeConn(conn: DestConn): Promise<void> {
    if (conn.closed) return
    conn.closed = true
    clearInterval(conn.renew)
    clearTimeout(conn.idleTimer)
    const list = this.idle.get(conn.destination)
    if (list?.includes(conn)) list.splice(list.indexOf(conn), 1)
    conn.conn.close()
    await this.freeSlot(conn.destination, conn.slot)
  }

  /** Walks the MX hosts by preference, and each host's addresses, until one takes the connection. */
  private async connect(
    plan: Extract<MxPlan, { kind: 'hosts' }>,
    policy: DestinationPolicy,
    slot: string,
    started: number,
  ): Promise<DestConn | TransactionResult> {
    let last: TransactionResult | undefined
    for (const host of plan.hosts) {
      for (const address of host.addresses) {
        const label = `${host.name} [${address}]`
        try {
          const session = await openSession({
            host: address,
            port: this.deps.port,
            secure: false,
            tls: policy.tls,
            servername: host.name,
            label,
            heloName: this.deps.heloName,
            timeoutMs: this.deps.timeoutMs,
            localAddress: this.deps.localAddress,
          })
          const renew = setInterval(
            () => void this.deps.limiter.renewSlot(policy.destination, slot, this.leaseMs).catch(() => {}),
            this.leaseMs / 3,
          )
          renew.unref()
          const conn: DestConn = { ...session, destination: policy.destination, slot, renew }
          session.conn.once('end', () => void this.closeConn(conn))
          return conn
        } catch (err) {
          // Refused, unreachable, a 4xx/5xx greeting, or no TLS where the policy requires it:
          // the next host may do better (RFC 5321 §5.1).
          last = failure(err as NodemailerError, started, { remoteHost: label }, false)
        }
      }
    }
    await this.freeSlot(policy.destination, slot)
    return last ?? planFailure(plan.hosts[0]?.name ?? '', { kind: 'no_address' }, started)
  }

  private keepIdle(conn: DestConn, policy: DestinationPolicy): void {
    if (conn.closed) return
    const list = this.idle.get(policy.destination) ?? []
    this.idle.set(policy.destination, list)
    list.push(conn)
    conn.idleTimer = setTimeout(() => void this.closeConn(conn), this.deps.idleMs ?? 2_000)
    conn.idleTimer.unref()
  }

  private async reacquire(policy: DestinationPolicy): Promise<string | undefined> {
    const slot = randomUUID()
    return (await this.deps.limiter.acquireSlot(policy.destination, slot, policy.maxConnections, this.leaseMs)) ? slot : undefined
  }

  private async freeSlot(destination: string, slot: string): Promise<void> {
    await this.deps.limiter
      .releaseSlot(destination, slot)
      .catch((err) => this.deps.logger.warn({ err: String(err) }, 'could not free an MX slot'))
  }
}

/** What DNS said instead of a host to talk to, as a transaction result to classify. */
function planFailure(domain: string, plan: MxPlan, started: number): TransactionResult {
  const base = {
    ok: false as const,
    phase: 'dns' as const,
    session: { remoteHost: domain, durationMs: Date.now() - started },
    rejected: new Map(),
  }
  switch (plan.kind) {
    case 'null_mx':
      return { ...base, reply: { code: 556, enhanced: '5.1.10', text: `${domain} accepts no mail (null MX)` }, message: 'null MX' }
    case 'nxdomain':
      return { ...base, reply: { code: 550, enhanced: '5.1.2', text: `${domain} does not exist` }, message: 'NXDOMAIN' }
    case 'private':
      return {
        ...base,
        errorCode: 'EPRIVATE',
        message: `the MX of ${domain} resolves only to private addresses (${plan.addresses.join(', ')}); set MX_ALLOW_PRIVATE=true to allow them`,
      }
    case 'temp_error':
      return { ...base, errorCode: 'EDNS', message: plan.message }
    default:
      return { ...base, errorCode: 'EDNS', message: `no address for the MX hosts of ${domain}` }
  }
}
