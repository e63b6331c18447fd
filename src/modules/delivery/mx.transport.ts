import { randomUUID } from 'node:crypto'
import type { Logger } from '../../infra/logger.js'
import type { TransactionResult } from './delivery.types.js'
import type { DestinationLimiter, HoldScope } from './limiter.port.js'
import { countConnectionFailure, isConnectionFailure, Slot } from './mx.connections.js'
import type { MxPlan, MxPlanner } from './mx.plan.js'
import { type DestinationPolicy, fromProvider, type Shaping } from './shaping.js'
import {
  CUT_CODES,
  type Envelope,
  failure,
  type NodemailerError,
  openSession,
  type Session,
  type TransactionLimits,
  transact,
} from './smtp-session.js'
import type { DirectTransport, Reservation, MxTicket as TicketBase } from './transport.port.js'

/**
 * Delivery straight to recipient domains' MX hosts, paced per destination. Before a delivery is
 * claimed, `reserve` decides whether it may go now: a paused destination, no free connection slot
 * or an exhausted send rate answers "wait until", so the caller can put the job aside without
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

/** The transport's own view of a ticket: the port's, plus the connection or slot it holds. */
export interface MxTicket extends TicketBase {
  conn?: DestConn
  slot?: Slot
  /** It holds a message of today's warm-up cap, given back if nothing is sent with it. */
  warm?: boolean
}

interface DestConn extends Session {
  key: string
  slot: Slot
  /** RCPT commands sent on this connection so far (recipientsPerConnection). */
  recipients: number
  idleTimer?: NodeJS.Timeout
  closed?: boolean
}

/** At most this many addresses are tried for one connection (as Postfix's smtp_mx_address_limit). */
const MAX_ADDRESSES = 10
const SHORT_WAIT_MS = 250
/**
 * A broadcast lane may hold at most this share of a destination's connections (and always leaves
 * one free when it has more than one): transactional mail to the same provider finds a slot
 * while a newsletter drains.
 */
const BULK_SLOT_SHARE = 0.75

export class MxTransport implements DirectTransport {
  private readonly idle = new Map<string, DestConn[]>()
  private readonly leaseMs: number
  private closed = false
  /** The sending IP a warm-up is counted for (MX_SOURCE_ADDRESS). */
  private readonly source: string

  constructor(private readonly deps: MxTransportDeps) {
    this.leaseMs = deps.slotLeaseMs ?? 60_000
    this.source = deps.localAddress ?? 'default'
  }

  async reserve(domain: string, sender?: string, bulk = false): Promise<Reservation> {
    const plan = await this.deps.planner.plan(domain)
    if (plan.kind !== 'hosts') return { kind: 'go', ticket: { domain, plan, factor: 1 } }
    const policy = this.deps.shaping.policyFor(
      domain,
      plan.hosts.map((h) => h.name),
    )
    const { limiter } = this.deps
    const destination = policy.destination
    const now = Date.now()
    const state = await limiter.state(policy.destination, domain, sender)
    if (state.pausedUntil > now) return { kind: 'wait', until: state.pausedUntil, reason: 'waiting_rate_limit', destination }
    // This domain's own rule at the destination (a tenant's block list), or this sender's (its
    // authentication): their mail waits, before any claim, slot or rate token.
    if (state.domainHeldUntil > now) return { kind: 'wait', until: state.domainHeldUntil, reason: 'destination_blocked', destination }
    if (state.senderHeldUntil > now) return { kind: 'wait', until: state.senderHeldUntil, reason: 'sender_config', destination }

    // Today's warm-up cap first (a delivery over it waits for tomorrow without spending a slot or
    // a rate token), then a connection (an idle one, or a new slot), then a rate token: a token is
    // never spent by a delivery that then has to wait for a connection. Whatever a failing Redis
    // call leaves taken is given back, or a few blips would leak a destination's slots for good.
    const ticket: MxTicket = { domain, plan, policy, factor: state.factor, sendersHeld: state.sendersHeld > 0 }
    if (state.probes.domain || state.probes.sender) {
      ticket.probes = { mark: state.probes.mark, ...(state.probes.domain ? { domain } : {}), ...(state.probes.sender ? { sender } : {}) }
    }
    try {
      if (policy.warmup) {
        const warm = await limiter.warmupTake(policy.destination, this.source, policy.warmup)
        // Spread over the first minutes of the day, so that what was held back does not all wake at once.
        if (!warm.taken)
          return { kind: 'wait', until: warm.nextDay + Math.floor(Math.random() * WARMUP_SPREAD_MS), reason: 'warming_up', destination }
        ticket.warm = true
      }
      const conn = this.takeIdle(poolKey(policy))
      if (conn) ticket.conn = conn
      else {
        ticket.slot = await this.takeSlot(policy, bulk)
        if (!ticket.slot) {
          this.release(ticket)
          return { kind: 'wait', until: now + SHORT_WAIT_MS, busy: true, destination }
        }
      }
      const rateWait = await limiter.reserveRate(policy.destination, policy.ratePerSecond)
      if (rateWait > 0) {
        this.release(ticket)
        return { kind: 'wait', until: now + rateWait, busy: true, destination }
      }
      return { kind: 'go', ticket }
    } catch (err) {
      this.release(ticket)
      throw err
    }
  }

  async putAside(destination: string, accountId: string, deliveryId: string, until: number): Promise<void> {
    await this.deps.limiter.putAside(destination, accountId, deliveryId, until)
  }

  /** A connection slot of the destination, renewed from the moment it is held; undefined when all are taken. */
  private async takeSlot(policy: DestinationPolicy, bulk = false): Promise<Slot | undefined> {
    const id = randomUUID()
    // A slot taken by a call that then failed on our side expires by itself after its lease.
    const share = bulk ? BULK_SLOT_SHARE : 1
    if (!(await this.deps.limiter.acquireSlot(policy.destination, id, policy.maxConnections, this.leaseMs, share))) return undefined
    return new Slot(this.deps.limiter, policy.destination, id, this.leaseMs)
  }

  /**
   * A throttling reply: the destination's concurrency halves and it pauses, for at least
   * `pauseMs` when a reply rule asks for a long pause (a reputation limit, a block); returns the
   * pause end.
   */
  async throttled(ticket: MxTicket, rule?: { id: string; pauseMs?: number }, reply?: string): Promise<number> {
    if (!ticket.policy) return 0
    const { destination, pauseMs, maxPauseMs } = ticket.policy
    const floor = Math.max(pauseMs, rule?.pauseMs ?? 0)
    const until = await this.deps.limiter.throttled(destination, floor, Math.max(maxPauseMs, floor), maxPauseMs, rule?.id, reply)
    // A destination warming up that throttles us stays at today's step on the next sending day.
    if (ticket.policy.warmup) {
      await this.deps.limiter
        .warmupFreeze(destination, this.source)
        .catch((err) => this.deps.logger.warn({ err: String(err), destination }, 'could not freeze the warm-up ramp'))
    }
    this.deps.logger.warn({ destination, rule: rule?.id, until: new Date(until).toISOString() }, 'destination throttled us; pausing it')
    // Idle connections to a throttled destination would only be refused again.
    for (const [key, list] of this.idle) if (key.startsWith(`${destination}|`)) for (const c of [...list]) await this.closeConn(c)
    return until
  }

  /** Holds one sender's or this recipient domain's mail at the ticket's destination; returns the hold's end. */
  async hold(ticket: MxTicket, scope: HoldScope, who: string, ms: number): Promise<number> {
    if (!ticket.policy) return 0
    const until = await this.deps.limiter.hold(ticket.policy.destination, scope, who, ms)
    this.deps.logger.warn(
      { destination: ticket.policy.destination, scope, who, until: new Date(until).toISOString() },
      'holding mail at a destination',
    )
    return until
  }

  /** Until when a sender's mail is held at the ticket's destination (0: not held; asked only when some sender is). */
  async senderHeldUntil(ticket: MxTicket, sender: string): Promise<number> {
    if (!ticket.policy || !ticket.sendersHeld) return 0
    return this.deps.limiter.senderHeldUntil(ticket.policy.destination, sender)
  }

  /** A success: a destination recovering from throttling gets one step of its concurrency back. */
  async succeeded(ticket: MxTicket): Promise<void> {
    if (ticket.policy && ticket.factor < 1) await this.deps.limiter.succeeded(ticket.policy.destination)
  }

  /**
   * After a probe's attempt: the holds it probed are lifted, but for the one its reply renewed
   * (`renewed`). The rest of the held mail then goes; if the refusal is still there, the next
   * message renews the hold. Best effort: an unsettled probe's mark lapses within PROBE_MS.
   */
  async settleProbes(ticket: MxTicket, renewed?: HoldScope): Promise<void> {
    const probes = ticket.probes
    ticket.probes = undefined
    if (!probes || !ticket.policy) return
    await this.settle(ticket.policy.destination, probes, 'end', renewed)
  }

  private async settle(destination: string, probes: NonNullable<MxTicket['probes']>, how: 'end' | 'restore', renewed?: HoldScope) {
    const done = await Promise.allSettled([
      probes.domain && renewed !== 'recipient_domain'
        ? this.deps.limiter.settleProbe(destination, 'recipient_domain', probes.domain, probes.mark, how)
        : undefined,
      probes.sender && renewed !== 'sender'
        ? this.deps.limiter.settleProbe(destination, 'sender', probes.sender, probes.mark, how)
        : undefined,
    ])
    for (const d of done) {
      if (d.status === 'rejected') this.deps.logger.warn({ err: String(d.reason), destination }, 'could not settle a probe of a hold')
    }
  }

  /** Gives back what a reservation holds when nothing was sent with it. */
  release(ticket: MxTicket): void {
    // A probe that never went: the next delivery to look probes the hold instead.
    if (ticket.probes && !ticket.sent && ticket.policy) void this.settle(ticket.policy.destination, ticket.probes, 'restore')
    ticket.probes = undefined
    if (ticket.conn && ticket.policy) this.keepIdle(ticket.conn, ticket.policy)
    else if (ticket.slot) void this.freeSlot(ticket.slot)
    if (ticket.warm && ticket.policy) {
      this.deps.limiter
        .warmupGiveBack(ticket.policy.destination, this.source)
        .catch((err) => this.deps.logger.warn({ err: String(err) }, 'could not give back a warm-up unit'))
    }
    ticket.conn = undefined
    ticket.slot = undefined
    ticket.warm = false
  }

  async send(ticket: MxTicket, envelope: Envelope, message: Buffer, limits: TransactionLimits): Promise<TransactionResult> {
    const started = Date.now()
    ticket.sent = true
    const { plan, policy } = ticket
    if (plan.kind !== 'hosts' || !policy) return planFailure(ticket.domain, plan, started)
    let conn = ticket.conn
    let slot = ticket.slot
    ticket.conn = undefined
    ticket.slot = undefined
    ticket.warm = false
    const cap = policy.recipientsPerConnection
    for (let round = 0; ; round++) {
      // A reused connection that this delivery's recipients would take past the destination's
      // limit per session: a new one, in the same slot.
      if (conn && cap > 0 && conn.recipients + envelope.to.length > cap) {
        const old = conn
        conn = undefined
        // Its slot goes to the new connection, unless the old one has lost it (closed by the
        // server meanwhile, or a lapsed lease): then a slot of its own, as for a new delivery.
        if (!old.closed && !old.slot.lost) slot = this.retire(old)
        else {
          void this.closeConn(old)
          slot = await this.takeSlot(policy).catch(() => undefined)
        }
      }
      if (!conn) {
        if (!slot) return failure(busyError(), started, { remoteHost: ticket.domain }, false)
        const opened = await this.connect(ticket.domain, plan, policy, slot, started, limits)
        if ('ok' in opened) return opened
        conn = opened
        slot = undefined
      }
      const reused = conn.messages > 0
      conn.recipients += envelope.to.length
      const { result, bytesRead } = await transact(conn, envelope, message, started, limits)
      const room = cap === 0 || conn.recipients < cap
      if (result.ok && conn.messages < policy.messagesPerConnection && room && !conn.slot.lost) this.keepIdle(conn, policy)
      else void this.closeConn(conn)
      // A reused connection the server had already dropped: once more on a fresh one.
      if (!result.ok && reused && bytesRead === 0 && round === 0 && ['ECONNECTION', 'ESOCKET'].includes(result.errorCode ?? '')) {
        conn = undefined
        slot = await this.takeSlot(policy).catch(() => undefined)
        if (slot) continue
        return result
      }
      return result
    }
  }

  /** Closes every idle connection (shutdown); connections in use close when their send ends. */
  async close(): Promise<void> {
    this.closed = true
    for (const list of [...this.idle.values()]) for (const c of [...list]) await this.closeConn(c)
  }

  /**
   * Walks the MX hosts by preference, and each host's addresses, until one takes the connection,
   * within an overall budget so that a walk cannot outlast the delivery's lease.
   */
  private async connect(
    domain: string,
    plan: Extract<MxPlan, { kind: 'hosts' }>,
    policy: DestinationPolicy,
    slot: Slot,
    started: number,
    limits: TransactionLimits,
  ): Promise<DestConn | TransactionResult> {
    const deadline = Math.min(started + 2 * this.deps.timeoutMs, limits.deadline)
    const candidates = plan.hosts.flatMap((host) => host.addresses.map((address) => ({ host, address }))).slice(0, MAX_ADDRESSES)
    let last: TransactionResult | undefined
    // Whether every candidate was tried and none could be reached, each a host of the destination
    // itself (a domain can list anyone's MX host after its own: its failures are not the provider's).
    let unreachable = candidates.length > 0
    for (const { host, address } of candidates) {
      const remaining = deadline - Date.now()
      if (limits.signal?.aborted || remaining <= 0) unreachable = false
      if (limits.signal?.aborted) {
        last = failure(
          Object.assign(new Error('connecting was stopped (shutdown)'), { code: CUT_CODES.aborted, command: 'CONN' }),
          started,
          { remoteHost: label0(plan) },
          false,
        )
        break
      }
      if (remaining <= 0) break
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
          deadline,
          signal: limits.signal,
          localAddress: this.deps.localAddress,
        })
        const conn: DestConn = { ...session, key: poolKey(policy), slot, recipients: 0 }
        session.conn.once('end', () => void this.closeConn(conn))
        // The count of failures in a row starts again (one Redis call per new connection, which
        // a TCP, TLS and EHLO exchange dwarfs).
        await this.deps.limiter.connected(policy.destination).catch(() => undefined)
        return conn
      } catch (err) {
        // Refused, unreachable, a 4xx/5xx greeting, or no TLS where the policy requires it:
        // the next host may do better (RFC 5321 §5.1).
        last = failure(err as NodemailerError, started, { remoteHost: label }, false)
        const theirs = !policy.provider || fromProvider(policy, domain, host.name)
        unreachable &&= theirs && isConnectionFailure(err as NodemailerError)
      }
    }
    await this.freeSlot(slot)
    if (unreachable) await countConnectionFailure(this.deps.limiter, this.deps.logger, policy)
    return (
      last ??
      failure(busyError('no MX host could be tried within the time allowed'), started, { remoteHost: plan.hosts[0]?.name ?? '' }, false)
    )
  }

  private takeIdle(key: string): DestConn | undefined {
    const list = this.idle.get(key)
    const conn = list?.pop()
    if (list?.length === 0) this.idle.delete(key)
    if (conn) clearTimeout(conn.idleTimer)
    return conn
  }

  private keepIdle(conn: DestConn, policy: DestinationPolicy): void {
    if (conn.closed || this.closed) {
      void this.closeConn(conn)
      return
    }
    const key = poolKey(policy)
    const list = this.idle.get(key) ?? []
    this.idle.set(key, list)
    list.push(conn)
    conn.idleTimer = setTimeout(() => void this.closeConn(conn), this.deps.idleMs ?? 2_000)
    conn.idleTimer.unref()
  }

  /** Closes a connection that is in use but keeps its slot, for a new connection to take. */
  private retire(conn: DestConn): Slot {
    conn.closed = true
    clearTimeout(conn.idleTimer)
    conn.conn.close()
    return conn.slot
  }

  private async closeConn(conn: DestConn): Promise<void> {
    if (conn.closed) return
    conn.closed = true
    clearTimeout(conn.idleTimer)
    const list = this.idle.get(conn.key)
    if (list?.includes(conn)) list.splice(list.indexOf(conn), 1)
    if (list?.length === 0) this.idle.delete(conn.key)
    conn.conn.close()
    await this.freeSlot(conn.slot)
  }

  private async freeSlot(slot: Slot): Promise<void> {
    await slot.free().catch((err) => this.deps.logger.warn({ err: String(err) }, 'could not free an MX slot'))
  }
}

/** Warm-up waits end within this long after midnight, spread at random. */
const WARMUP_SPREAD_MS = 10 * 60_000

/** Idle connections are shared only between deliveries with the same destination and TLS policy. */
const poolKey = (policy: DestinationPolicy): string => `${policy.destination}|${policy.tls}`

const label0 = (plan: Extract<MxPlan, { kind: 'hosts' }>) => plan.hosts[0]?.name ?? ''

const busyError = (message = 'no connection slot was held for this delivery'): NodemailerError =>
  Object.assign(new Error(message), { code: 'ECONNECTION', command: 'CONN' })

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
    case 'no_address':
      return { ...base, reply: { code: 550, enhanced: '5.4.4', text: `no address for the mail hosts of ${domain}` }, message: 'no address' }
    case 'private':
      return {
        ...base,
        errorCode: 'EPRIVATE',
        message: `the MX of ${domain} resolves only to private addresses (${plan.addresses.join(', ')}); set MX_ALLOW_PRIVATE=true to allow them`,
      }
    default:
      return { ...base, errorCode: 'EDNS', message: plan.kind === 'temp_error' ? plan.message : 'DNS lookup failed' }
  }
}
