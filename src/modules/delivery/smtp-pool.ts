import { Readable } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import SMTPConnection from 'nodemailer/lib/smtp-connection'
import type { Logger } from '../../infra/logger.js'
import type { RcptRejections, SessionInfo, SmtpPhase, TransactionResult } from './delivery.types.js'
import { describeTarget, type SmtpTarget } from './relay-target.js'
import { parseReply } from './smtp-reply.classify.js'

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

export interface Envelope {
  from: string
  to: string[]
  /** The message has 8-bit bytes: ask for BODY=8BITMIME (submitted messages are relayed as is). */
  eightBit?: boolean
}

interface Pooled {
  conn: SMTPConnection
  messages: number
  idleTimer?: NodeJS.Timeout
  session: Omit<SessionInfo, 'durationMs'>
}

type NodemailerError = Error & {
  code?: string
  command?: string
  response?: string
  responseCode?: number
  rejectedErrors?: NodemailerError[]
  recipient?: string
}

/**
 * A small pool of SMTP connections to one target, built on nodemailer's SMTPConnection so each
 * transaction reports exactly where it ended. Unlike a transport that silently re-sends, this
 * pool retries a message only when not one byte of it reached the server.
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
        return this.failure(err as NodemailerError, started, undefined, false)
      }
      const reused = pooled.messages > 0
      const { result, bytesRead } = await this.transact(pooled, envelope, message, started)
      const stale = !result.ok && reused && bytesRead === 0 && round === 0 && ['ECONNECTION', 'ESOCKET'].includes(result.errorCode ?? '')
      if (stale) continue // the server had dropped an idle connection: try once on a fresh one
      return result
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const waiter of this.waiters.splice(0)) waiter(undefined)
    for (const p of this.idle.splice(0)) this.destroy(p)
  }

  private transact(pooled: Pooled, envelope: Envelope, message: Buffer, started: number) {
    return new Promise<{ result: TransactionResult; bytesRead: number }>((resolve) => {
      let bytesRead = 0
      let ended = false
      const body = new Readable({
        read() {
          bytesRead = message.length
          this.push(message)
          this.push(null)
        },
      })
      body.on('end', () => {
        ended = true
      })
      const smtpEnvelope = { from: envelope.from, to: envelope.to, size: message.length, use8BitMime: envelope.eightBit === true }
      pooled.conn.send(smtpEnvelope as never, body, (err, info) => {
        if (err) {
          this.destroy(pooled)
          resolve({ result: this.failure(err as NodemailerError, started, pooled, ended), bytesRead })
          return
        }
        pooled.messages++
        const rejected = rejections(info.rejectedErrors as NodemailerError[] | undefined)
        this.release(pooled)
        const dataReply = parseReply(String(info.response)) ?? { code: 250, text: String(info.response) }
        resolve({ result: { ok: true, session: { ...pooled.session, durationMs: Date.now() - started }, dataReply, rejected }, bytesRead })
      })
    })
  }

  private failure(err: NodemailerError, started: number, pooled: Pooled | undefined, dataSent: boolean): TransactionResult {
    const session: SessionInfo = { remoteHost: describeTarget(this.options.target), ...pooled?.session, durationMs: Date.now() - started }
    const reply = err.response ? parseReply(err.response) : undefined
    const phase = phaseOf(err, dataSent && !reply)
    return { ok: false, session, phase, reply, errorCode: err.code, message: err.message, rejected: rejections(err.rejectedErrors) }
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
    pooled.idleTimer = setTimeout(() => {
      const i = this.idle.indexOf(pooled)
      if (i >= 0) this.idle.splice(i, 1)
      this.destroy(pooled)
    }, this.options.idleMs ?? 30_000)
    pooled.idleTimer.unref()
    this.idle.push(pooled)
  }

  private destroy(pooled: Pooled): void {
    clearTimeout(pooled.idleTimer)
    const i = this.idle.indexOf(pooled)
    if (i >= 0) this.idle.splice(i, 1)
    if (!(pooled as { gone?: boolean }).gone) {
      ;(pooled as { gone?: boolean }).gone = true
      this.open--
      pooled.conn.close()
      this.wakeOne()
    }
  }

  /** A freed slot lets one waiter open a connection of its own. */
  private wakeOne(): void {
    const waiter = this.waiters.shift()
    if (waiter) waiter(undefined)
  }

  private connect(): Promise<Pooled> {
    const { target, heloName, timeoutMs } = this.options
    const conn = new SMTPConnection({
      host: target.host,
      port: target.port,
      secure: target.secure,
      ignoreTLS: target.tls === 'none',
      requireTLS: target.tls === 'require' || target.tls === 'verify',
      opportunisticTLS: target.tls === 'opportunistic',
      tls: { rejectUnauthorized: target.tls === 'verify', servername: target.host },
      name: heloName,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      logger: false,
    })
    return new Promise<Pooled>((resolve, reject) => {
      let settled = false
      const fail = (err: unknown) => {
        if (settled) return
        settled = true
        conn.close()
        reject(err)
      }
      conn.once('error', fail)
      conn.connect((connectErr?: unknown) => {
        if (connectErr) return fail(connectErr)
        const ready = () => {
          if (settled) return
          settled = true
          conn.removeListener('error', fail)
          const pooled: Pooled = { conn, messages: 0, session: sessionOf(conn, target) }
          // Errors on an idle connection surface as 'error' + 'end'; drop it from the pool.
          conn.on('error', (err) => this.options.logger.debug({ err: err.message }, 'smtp connection error'))
          conn.once('end', () => this.destroy(pooled))
          resolve(pooled)
        }
        if (!target.auth) return ready()
        conn.login({ user: target.auth.user, pass: target.auth.pass }, (authErr) => (authErr ? fail(authErr) : ready()))
      })
    })
  }
}

function sessionOf(conn: SMTPConnection, target: SmtpTarget): Omit<SessionInfo, 'durationMs'> {
  const socket = (conn as unknown as { _socket?: TLSSocket })._socket
  const tls = conn.secure && socket && typeof socket.getProtocol === 'function'
  return {
    remoteHost: describeTarget(target),
    remoteIp: socket?.remoteAddress,
    tlsVersion: tls ? (socket.getProtocol() ?? undefined) : undefined,
    tlsCipher: tls ? socket.getCipher()?.name : undefined,
  }
}

function rejections(errors: NodemailerError[] | undefined): RcptRejections {
  const map: RcptRejections = new Map()
  for (const e of errors ?? []) {
    const reply = e.response ? parseReply(e.response) : undefined
    if (e.recipient && reply) map.set(e.recipient, reply)
  }
  return map
}

/** Maps nodemailer's error code and command to the phase where the transaction ended. */
function phaseOf(err: NodemailerError, afterData: boolean): SmtpPhase {
  if (err.code === 'EAUTH' || err.command === 'AUTH PLAIN' || err.command === 'AUTH LOGIN') return 'auth'
  if (err.code === 'ETLS' || err.command === 'STARTTLS') return 'tls'
  if (afterData) return 'after_data'
  switch (err.command) {
    case 'MAIL FROM':
      return 'mail'
    case 'RCPT TO':
      return 'rcpt'
    case 'DATA':
      return 'data'
    default:
      return err.code === 'EPROTOCOL' || err.responseCode ? 'greeting' : 'connect'
  }
}
