import type { Socket } from 'node:net'
import { type Duplex, Readable } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import SMTPConnection from 'nodemailer/lib/smtp-connection'
import type { RcptRejections, SessionInfo, SmtpPhase, TransactionResult } from './delivery.types.js'
import type { TlsPolicy } from './relay-target.js'
import { parseReply } from './smtp-reply.classify.js'

/**
 * One SMTP connection and one transaction on it, on nodemailer's SMTPConnection, reporting
 * exactly where a transaction ended. Shared by the relay pool and the MX transport.
 */
export interface ConnectOptions {
  /** Address or host name to connect to. */
  host: string
  port: number
  /** TLS from the first byte (smtps). */
  secure: boolean
  tls: TlsPolicy
  /** Name the certificate must carry (the MX host name when connecting to its address). */
  servername?: string
  /** How the host is shown in attempts and logs. */
  label: string
  heloName: string
  timeoutMs: number
  auth?: { user: string; pass: string }
  localAddress?: string
  /** Epoch ms by which the session must be open: the transaction's hard cap covers connecting too. */
  deadline?: number
  /** Stops connecting (shutdown). */
  signal?: AbortSignal
}

/**
 * What bounds one transaction besides the per-command timeout. The cap holds however the remote
 * behaves (a receiver that dribbles a byte a minute never trips an inactivity timer); the reply
 * to the final dot gets its own, longer wait (RFC 5321 §4.5.3.2: 10 minutes).
 */
export interface TransactionLimits {
  /** Epoch ms: the connection is cut at this time, whatever it is doing, and the attempt deferred. */
  deadline: number
  /** How long to wait for the reply after the final dot. */
  dataTimeoutMs: number
  /** Cuts the transaction short (shutdown, lost lease). Past the final dot the cut leaves a possible duplicate. */
  signal?: AbortSignal
  /**
   * Runs once the message body is handed over and before the final dot is released: the attempt
   * records that it reached DATA. If it fails, the dot is never sent and the transaction fails
   * (the server discards a message without its dot).
   */
  beforeDot?: () => Promise<void>
}

/** Error codes of a transaction we cut ourselves. */
export const CUT_CODES = { cap: 'ECAP', aborted: 'EABORTED', beforeDot: 'EBEFOREDOT' } as const

export interface Envelope {
  from: string
  to: string[]
  /** The message has 8-bit bytes: ask for BODY=8BITMIME (submitted messages are relayed as is). */
  eightBit?: boolean
}

export interface Session {
  conn: SMTPConnection
  messages: number
  info: Omit<SessionInfo, 'durationMs'>
  /** The per-command inactivity timeout, restored after the longer wait for the final reply. */
  socketTimeoutMs: number
}

export type NodemailerError = Error & {
  code?: string
  command?: string
  response?: string
  responseCode?: number
  rejectedErrors?: NodemailerError[]
  recipient?: string
}

/** Connects, says EHLO, applies the TLS policy and logs in; rejects with nodemailer's error. */
export function openSession(o: ConnectOptions): Promise<Session> {
  const timeoutMs = o.deadline === undefined ? o.timeoutMs : Math.max(1, Math.min(o.timeoutMs, o.deadline - Date.now()))
  const conn = new SMTPConnection({
    host: o.host,
    port: o.port,
    secure: o.secure,
    ignoreTLS: o.tls === 'none',
    requireTLS: o.tls === 'require' || o.tls === 'verify',
    opportunisticTLS: o.tls === 'opportunistic',
    tls: { rejectUnauthorized: o.tls === 'verify', servername: o.servername },
    name: o.heloName,
    localAddress: o.localAddress,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: o.timeoutMs,
    logger: false,
  })
  return new Promise<Session>((resolve, reject) => {
    let settled = false
    // EHLO, STARTTLS and AUTH each have the per-command timeout; together they have the cap.
    const cap =
      o.deadline === undefined
        ? undefined
        : setTimeout(() => fail(cutError(CUT_CODES.cap, 'the connection was not ready before the transaction time cap')), timeoutMs)
    const onAbort = () => fail(cutError(CUT_CODES.aborted, 'connecting was stopped (shutdown)'))
    const fail = (err: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(cap)
      o.signal?.removeEventListener('abort', onAbort)
      // A failed STARTTLS handshake (a certificate that does not validate, say) surfaces as a
      // socket error; it is a TLS failure, and the policy that asked for TLS is why.
      if ((conn as unknown as { upgrading?: boolean }).upgrading) Object.assign(err as object, { code: 'ETLS', command: 'STARTTLS' })
      conn.close()
      reject(err)
    }
    conn.once('error', fail)
    if (o.signal?.aborted) return onAbort()
    o.signal?.addEventListener('abort', onAbort, { once: true })
    conn.connect((connectErr?: unknown) => {
      if (connectErr) return fail(connectErr)
      const ready = () => {
        if (settled) return
        settled = true
        clearTimeout(cap)
        o.signal?.removeEventListener('abort', onAbort)
        conn.removeListener('error', fail)
        // Later errors on an idle connection are followed by 'end'; the owner listens for that.
        conn.on('error', () => {})
        resolve({ conn, messages: 0, info: sessionInfo(conn, o.label), socketTimeoutMs: o.timeoutMs })
      }
      if (!o.auth) return ready()
      conn.login({ user: o.auth.user, pass: o.auth.pass }, (authErr) => (authErr ? fail(authErr) : ready()))
    })
  })
}

/**
 * Runs one transaction within `limits`. `bytesRead` tells whether any of the message left us,
 * which decides whether a failure may be retried on a fresh connection; `dotSent` whether the
 * final dot may have gone, which makes a lost reply a possible duplicate.
 */
export function transact(session: Session, envelope: Envelope, message: Buffer, started: number, limits: TransactionLimits) {
  return new Promise<{ result: TransactionResult; bytesRead: number }>((resolve) => {
    let bytesRead = 0
    let dotSent = false
    let settled = false
    const socket = () => (session.conn as unknown as { _socket?: Socket })._socket
    const settle = (result: TransactionResult) => {
      if (settled) return
      settled = true
      clearTimeout(cap)
      limits.signal?.removeEventListener('abort', onAbort)
      resolve({ result, bytesRead })
    }
    // Cutting the connection is how a transaction is stopped: without its final dot the server
    // discards the message; after it, the reply is lost and the message may have been taken.
    const cut = (code: string, text: string) => {
      const result = failure(cutError(code, text), started, session.info, dotSent)
      if (!result.ok && !dotSent) result.phase = bytesRead > 0 ? 'data' : 'mail'
      settle(result)
      session.conn.close()
    }
    const cap = setTimeout(
      () => cut(CUT_CODES.cap, 'the transaction reached its time cap (SMTP_TRANSACTION_TIMEOUT)'),
      limits.deadline - Date.now(),
    )
    const onAbort = () => cut(CUT_CODES.aborted, 'the transaction was stopped (shutdown or lost claim)')
    if (limits.signal?.aborted) return onAbort()
    limits.signal?.addEventListener('abort', onAbort, { once: true })

    // Bytes of the message still in this process (our stream, nodemailer's dot-stuffing stream,
    // the socket's buffer): the final dot goes only once the body has left, so that the claim
    // is checked just before the dot and not while a large body is still being written.
    const unsent = () => {
      const dots = (session.conn as unknown as { _currentDataStream?: Duplex })._currentDataStream
      return body.readableLength + (dots ? dots.writableLength + dots.readableLength : 0) + (socket()?.writableLength ?? 0)
    }
    const bodyWritten = async () => {
      // A small body has left by the next tick; a large one waits for the socket to drain.
      await new Promise((resolve) => process.nextTick(resolve))
      if (unsent() === 0) return
      await new Promise((resolve) => setImmediate(resolve))
      // Bounded by the cap, which settles the transaction and ends this wait.
      while (!settled && unsent() > 0) await drainOrTick(socket())
    }
    const body = new Readable({
      read() {
        if (bytesRead > 0) return
        bytesRead = message.length
        this.push(message)
        bodyWritten()
          .then(() => (settled ? undefined : limits.beforeDot?.()))
          .then(
            () => {
              if (settled) return
              // From here on the server may take the message: wait the longer DATA timeout for its word.
              dotSent = true
              socket()?.setTimeout(limits.dataTimeoutMs)
              this.push(null)
            },
            (err: unknown) => cut(CUT_CODES.beforeDot, `the attempt could not record that it reached DATA: ${String(err)}`),
          )
      },
    })
    const smtpEnvelope = { from: envelope.from, to: envelope.to, size: message.length, use8BitMime: envelope.eightBit === true }
    session.conn.send(smtpEnvelope as never, body, (err, info) => {
      socket()?.setTimeout(session.socketTimeoutMs)
      if (err) {
        settle(failure(err as NodemailerError, started, session.info, dotSent))
        return
      }
      session.messages++
      const dataReply = parseReply(String(info.response)) ?? { code: 250, text: String(info.response) }
      settle({
        ok: true,
        session: { ...session.info, durationMs: Date.now() - started },
        dataReply,
        rejected: rejections(info.rejectedErrors as NodemailerError[] | undefined),
      })
    })
  })
}

const cutError = (code: string, message: string): NodemailerError => Object.assign(new Error(message), { code, command: 'CONN' })

/** Waits for the socket to drain, or 20 ms, whichever comes first. */
const drainOrTick = (socket: Socket | undefined) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer)
      socket?.removeListener('drain', done)
      resolve()
    }
    const timer = setTimeout(done, 20)
    socket?.once('drain', done)
  })

/** A failed connection or transaction as data; `info` is what is known of the session, if any. */
export function failure(
  err: NodemailerError,
  started: number,
  info: Omit<SessionInfo, 'durationMs'>,
  dataSent: boolean,
): TransactionResult {
  const reply = err.response ? parseReply(err.response) : undefined
  return {
    ok: false,
    session: { ...info, durationMs: Date.now() - started },
    phase: phaseOf(err, dataSent && !reply),
    reply,
    errorCode: err.code,
    message: err.message,
    rejected: rejections(err.rejectedErrors),
  }
}

function sessionInfo(conn: SMTPConnection, label: string): Omit<SessionInfo, 'durationMs'> {
  const socket = (conn as unknown as { _socket?: TLSSocket })._socket
  const tls = conn.secure && socket && typeof socket.getProtocol === 'function'
  return {
    remoteHost: label,
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
