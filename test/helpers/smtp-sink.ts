import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerSession } from 'smtp-server'

/** What the sink answers, decided per recipient (RCPT) and per message (after the final dot). */
export type RcptAction = { code: number; message: string } | { stallMs: number } | undefined
export type DataAction =
  | { kind: 'accept' }
  | { kind: 'reject'; code: number; message: string }
  | { kind: 'drop' }
  | { kind: 'stall'; ms: number }

export interface SinkScript {
  rcpt?: (address: string, session: SMTPServerSession) => RcptAction
  data?: (message: ReceivedMessage, index: number) => DataAction
}

export interface ReceivedMessage {
  from: string
  to: string[]
  raw: Buffer
  /** The session had upgraded to TLS (STARTTLS) when the message came. */
  secure: boolean
}

export interface SinkOptions {
  /** Loopback address to listen on (127.0.0.x), default 127.0.0.1. */
  host?: string
  /** Port, default a free one. */
  port?: number
  /** Offer STARTTLS with this certificate. */
  tls?: { key: Buffer | string; cert: Buffer | string }
}

/**
 * A real SMTP server on loopback that records what it receives and can be scripted to answer
 * 250, 4xx, 5xx, drop the connection after the final dot, or stall. It also counts sessions
 * open at once, so tests can check concurrency limits.
 */
export async function startSink(script: SinkScript = {}, options: SinkOptions = {}) {
  const received: ReceivedMessage[] = []
  let dataIndex = 0
  let open = 0
  let maxOpen = 0
  let connections = 0
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: options.tls ? ['AUTH'] : ['STARTTLS', 'AUTH'],
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    logger: false,
    onConnect(_session, callback) {
      connections++
      open++
      maxOpen = Math.max(maxOpen, open)
      callback()
    },
    onClose() {
      open--
    },
    onRcptTo(address, session, callback) {
      const action = script.rcpt?.(address.address, session)
      // Holding the RCPT reply keeps a transaction before DATA for as long as a test needs.
      if (action && 'stallMs' in action) return void setTimeout(() => callback(), action.stallMs)
      if (action) return callback(Object.assign(new Error(action.message), { responseCode: action.code }))
      callback()
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        const message: ReceivedMessage = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          secure: session.secure === true,
        }
        const action = script.data?.(message, dataIndex++) ?? { kind: 'accept' }
        if (action.kind === 'drop') {
          // The whole message arrived, and the connection dies before any reply: the RFC 1047 window.
          received.push(message)
          const connections = (server as unknown as { connections: Set<{ session: { id: string }; _socket: { destroy(): void } }> })
            .connections
          for (const c of connections) if (c.session.id === session.id) c._socket.destroy()
          return
        }
        if (action.kind === 'stall') {
          received.push(message)
          setTimeout(() => callback(null, 'OK after stall'), action.ms)
          return
        }
        if (action.kind === 'reject') return callback(Object.assign(new Error(action.message), { responseCode: action.code }))
        received.push(message)
        callback(null, `2.0.0 Ok: queued as sink-${received.length}`)
      })
    },
  })
  server.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve())
  })
  const port = (server.server.address() as AddressInfo).port
  return {
    port,
    url: `smtp://${options.host ?? '127.0.0.1'}:${port}`,
    received,
    get maxConcurrent() {
      return maxOpen
    },
    /** Connections ever accepted. */
    get connections() {
      return connections
    },
    /** Replaces the script from now on. */
    setScript(next: SinkScript) {
      script = next
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

export type Sink = Awaited<ReturnType<typeof startSink>>
