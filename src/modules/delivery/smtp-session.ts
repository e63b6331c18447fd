import { Readable } from 'node:stream'
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
}

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
    connectionTimeout: o.timeoutMs,
    greetingTimeout: o.timeoutMs,
    socketTimeout: o.timeoutMs,
    logger: false,
  })
  return new Promise<Session>((resolve, reject) => {
    let settled = false
    const fail = (err: unknown) => {
      if (settled) return
      settled = true
      // A failed STARTTLS handshake (a certificate that does not validate, say) surfaces as a
      // socket error; it is a TLS failure, and the policy that asked for TLS is why.
      if ((conn as unknown as { upgrading?: boolean }).upgrading) Object.assign(err as object, { code: 'ETLS', command: 'STARTTLS' })
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
        // Later errors on an idle connection are followed by 'end'; the owner listens for that.
        conn.on('error', () => {})
        resolve({ conn, messages: 0, info: sessionInfo(conn, o.label) })
      }
      if (!o.auth) return ready()
      conn.login({ user: o.auth.user, pass: o.auth.pass }, (authErr) => (authErr ? fail(authErr) : ready()))
    })
  })
}

/**
 * Runs one transaction. `bytesRead` tells whether any of the message left us, which decides
 * both whether a failure may be retried on a fresh connection and whether a lost reply after the
 * final dot makes it a possible duplicate.
 */
export function transact(session: Session, envelope: Envelope, message: Buffer, started: number) {
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
    session.conn.send(smtpEnvelope as never, body, (err, info) => {
      if (err) {
        resolve({ result: failure(err as NodemailerError, started, session.info, ended), bytesRead })
        return
      }
      session.messages++
      const dataReply = parseReply(String(info.response)) ?? { code: 250, text: String(info.response) }
      resolve({
        result: {
          ok: true,
          session: { ...session.info, durationMs: Date.now() - started },
          dataReply,
          rejected: rejections(info.rejectedErrors as NodemailerError[] | undefined),
        },
        bytesRead,
      })
    })
  })
}

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
