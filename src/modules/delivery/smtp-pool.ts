import type { Logger } from '../../infra/logger.js'
import type { TransactionResult } from './delivery.types.js'
import { describeTarget, type SmtpTarget } from './relay-target.js'
import { type Envelope, failure, type NodemailerError, openSession, type Session, transact } from './smtp-session.js'

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
 * A small pool of SMTP connections to the relay. Unlike a transport that silently re-sends, it
 * retries a message only when not one byte of it reached the server (a stale idle connection).
 */
export class SmtpPool {
  private readonly idle: Pooled[] = []
  private readonly waiters: Array<(p: Pooled | undefined) => void> = []
  private open = 0
  private closed = false

  constructor(private readonly options: SmtpPoolOptions) {}

  async send(envelope: Envelope, message: Buffer): Promise<TransactionResult> {
    const started = Date.now()
    for (let round = 0; ; round++) {
      let pooled: Pooled
      try {
        pooled = await this.acquire()
      } catch (err) {
        return withOurSide(failure(err as NodemailerError, started, { remoteHost: describeTarget(this.options.target) }, false))
      }
      const reused = pooled.messages > 0
      const { result, bytesRead } = await transact(pooled, envelope, message, started)
      if (result.ok) this.release(pooled)
      else this.destroy(pooled)
      const stale = !result.ok && reused && bytesRead === 0 && round === 0 && ['ECONNECTION', 'ESOCKET'].includes(result.errorCode ?? '')
      if (stale) continue // the server had dropped an idle connection: try once on a fresh one
      return withOurSide(result)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const waiter of this.waiters.splice(0)) waiter(undefined)
    for (const p of this.idle.splice(0)) this.destroy(p)
  }

  private async acquire(deadline = Date.now() + this.options.timeoutMs): Promise<Pooled> {
    if (this.closed) throw Object.assign(new Error('pool closed'), { code: 'ECONNECTION', command: 'CONN' })
    const idle = this.idle.pop()
    if (idle) {
      clearTimeout(idle.idleTimer)
      return idle
    }
    if (this.open < this.options.size) {
      this.open++
      try {
        return await this.connect()
      } catch (err) {
        this.open--
        this.wakeOne()
        throw err
      }
    }
    // Waiting for a free connection is bounded too: time spent here counts against the lease.
    const next = await new Promise<Pooled | undefined>((resolve, reject) => {
      const waiter = (p: Pooled | undefined) => {
        clearTimeout(timer)
        resolve(p)
      }
      const timer = setTimeout(
        () => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
          reject(Object.assign(new Error('no SMTP connection became free in time'), { code: 'ETIMEDOUT', command: 'CONN' }))
        },
        Math.max(0, deadline - Date.now()),
      )
      this.waiters.push(waiter)
    })
    return next ?? this.acquire(deadline)
  }

  private async connect(): Promise<Pooled> {
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
    })
    pooled.conn.once('end', () => this.destroy(pooled))
    return pooled
  }

  private release(pooled: Pooled): void {
    if (this.closed || pooled.messages >= (this.options.maxMessagesPerConnection ?? 1000)) {
      this.destroy(pooled)
      return
    }
    const waiter = this.waiters.shift()
    if (waiter) {
      waiter(pooled)
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
    this.open--
    pooled.conn.close()
    this.wakeOne()
  }

  /** A freed slot lets one waiter open a connection of its own. */
  private wakeOne(): void {
    const waiter = this.waiters.shift()
    if (waiter) waiter(undefined)
  }
}

/** Failures talking to our own relay are ours to fix (credentials, TLS), never the recipient's. */
const withOurSide = (result: TransactionResult): TransactionResult => (result.ok ? result : { ...result, ourSide: true })
