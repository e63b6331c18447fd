import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { SMTPServer } from 'smtp-server'
import type { Logger } from '../infra/logger.js'

export interface DevInboxOptions {
  host: string
  port: number
  dir: string
  logger: Logger
  maxBytes: number
  /** On close, how long open sessions may go on before they are cut (SHUTDOWN_TIMEOUT). */
  closeTimeoutMs?: number
}

/**
 * The development relay: a loopback SMTP server that stores every message it receives as an
 * .eml file, with Return-Path and Delivered-To lines prepended as a mailbox would. Files appear
 * complete or not at all (written under a temporary name, then renamed).
 */
export async function startDevInbox(options: DevInboxOptions): Promise<{ port: number; close(): Promise<void> }> {
  await mkdir(options.dir, { recursive: true })
  const server = new SMTPServer({
    name: 'hikyaku-dev-inbox',
    banner: 'Hikyaku development inbox: messages are stored, never delivered',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: options.maxBytes,
    closeTimeout: options.closeTimeoutMs,
    logger: false,
    async onData(stream, session, callback) {
      const id = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}`
      const tmp = join(options.dir, `.${id}.tmp`)
      const file = join(options.dir, `${id}.eml`)
      try {
        const out = createWriteStream(tmp)
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : ''
        for (const rcpt of session.envelope.rcptTo) out.write(`Delivered-To: ${rcpt.address}\r\n`)
        out.write(`Return-Path: <${from}>\r\n`)
        await pipeline(stream, out)
        if ((stream as { sizeExceeded?: boolean }).sizeExceeded) {
          await rm(tmp, { force: true })
          return callback(Object.assign(new Error('Message exceeds the maximum size'), { responseCode: 552 }))
        }
        await rename(tmp, file)
        options.logger.info({ file, to: session.envelope.rcptTo.map((r) => r.address) }, 'dev inbox stored a message')
        callback(null, `Stored as ${id}.eml`)
      } catch (err) {
        callback(Object.assign(new Error('Could not store the message'), { responseCode: 451 }))
        options.logger.error({ err }, 'dev inbox could not store a message')
      }
    },
  })
  server.on('error', (err) => options.logger.warn({ err: err.message }, 'dev inbox error'))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => resolve())
  })
  const address = server.server.address()
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
