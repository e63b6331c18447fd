import type { Logger } from '../../infra/logger.js'
import { createSemaphore } from '../../lib/semaphore.js'
import type { TransactionResult } from './delivery.types.js'
import { describeTarget, type SmtpTarget } from './relay-target.js'
import {
  type Envelope,
  failure,
  type NodemailerError,
  openSession,
  type Session,
  type TransactionLimits,
  transact,
} from './smtp-session.js'

export type { Envelope }

export interface SmtpPoolOptions {
  target: SmtpTarget
  size: number
  heloName: string
  timeoutMs: number
  logger: Logger
  /** Messages per connection before it is replaced. */
  maxMessagesPerConnection?: number
  /** An idle connection is closed after this long, before the server drops it on its own. */
  idleMs?: number
}

interface Pooled extends Session {
  idleTimer?: NodeJS.Timeout
  gone?: boolean
}

/**
 * A small pool of SMTP connections to the relay. A delivery reserves one of its `size` slots
 * before it claims anything, so waiting for a free connection never counts as an attempt; with
 * a slot held, a connection is always at hand (an idle one, or a new one). Unlike a transport
 * that silently re-sends, it retries a message only when not one byte of it reached the server
 * (a stale idle connection).
 */
export class SmtpPool {
  private readonly idle: Pooled[] = []
  private readonly slots
  private closed = false

  constructor(private readonly options: SmtpPoolOptions) {
    this.slots = createSemaphore(options.size)
  }

  /** Waits for a free slot; false when `signal` aborted (or `timeoutMs` passed) first. */
  reserve(wait: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean> {
    return this.slots.acquire(1, wait)
  }

  /** Gives back a slot taken with `reserve`. */
  unreserve(): void {
    this.slots.release(1)
  }

  /** Sends on a reserved slot. */
  async send(envelope: Envelope, message: Buffer, limits: TransactionLimits): Promise<TransactionResult> {
    const started = Date.now()
    for (let round = 0; ; round++) {
      let pooled = this.takeIdle()
      if (!pooled) {
        try {
          pooled = await this.connect(limits)
        } catch (err) {
          return withOurSide(failure(err as NodemailerError, started, { remoteHost: describeTarget(this.options.target) }, false))
        }
      }
      const reused = pooled.messages > 0
      const { result, bytesRead } = await transact(pooled, envelope, message, started, limits)
      if (result.ok) this.keepIdle(pooled)
      else this.destroy(pooled)
      const stale = !result.ok && reused && bytesRead === 0 && round === 0 && ['ECONNECTION', 'ESOCKET'].includes(result.errorCode ?? '')
      if (stale) continue // the server had dropped an idle connection: try once on a fresh one
      return withOurSide(result)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const p of this.idle.splice(0)) this.destroy(p)
  }

  private takeIdle(): Pooled | undefined {
    const idle = this.idle.pop()
    if (idle) clearTimeout(idle.idleTimer)
    return idle
  }

  private async connect(limits: TransactionLimits): Promise<Pooled> {
    if (this.closed) throw Object.assign(new Error('pool closed'), { code: 'ECONNECTION', command: 'CONN' })
    const { target } = this.options
    const pooled: Pooled = await openSession({
      host: target.host,
      port: target.port,
      secure: target.secure,
      tls: target.tls,
      servername: target.host,
      label: describeTarget(target),
      heloName: this.options.heloName,
      timeoutMs: this.options.timeoutMs,
      auth: target.auth,
      deadline: limits.deadline,
      signal: limits.signal,
    })
    pooled.conn.once('end', () => this.destroy(pooled))
    return pooled
  }

  private keepIdle(pooled: Pooled): void {
    if (this.closed || pooled.gone || pooled.messages >= (this.options.maxMessagesPerConnection ?? 1000)) {
      this.destroy(pooled)
      return
    }
    pooled.idleTimer = setTimeout(() => this.destroy(pooled), this.options.idleMs ?? 30_000)
    pooled.idleTimer.unref()
    this.idle.push(pooled)
  }

  private destroy(pooled: Pooled): void {
    clearTimeout(pooled.idleTimer)
    const i = this.idle.indexOf(pooled)
    if (i >= 0) this.idle.splice(i, 1)
    if (pooled.gone) return
    pooled.gone = true
    pooled.conn.close()
  }
}

/** Failures talking to our own relay are ours to fix (credentials, TLS), never the recipient's. */
const withOurSide = (result: TransactionResult): TransactionResult => (result.ok ? result : { ...result, ourSide: true })
