import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server'
import type { Config } from '../config.js'
import type { Logger } from '../infra/logger.js'
import { parseAddress } from '../lib/address.js'
import { AppError } from '../lib/errors.js'
import type { ApiKeyService } from '../modules/api-keys/api-key.service.js'
import type { Principal } from '../modules/api-keys/api-key.types.js'
import type { EmailService } from '../modules/emails/email.service.js'
import { draftFromSmtp } from '../modules/emails/smtp-submission.js'
import { createAuthThrottle } from './auth-throttle.js'
import { smtpError, toSmtpError } from './smtp-reply.js'
import type { TlsPair } from './tls.js'

export interface SubmissionDeps {
  config: Pick<
    Config,
    | 'smtpHost'
    | 'smtpPort'
    | 'smtpsPort'
    | 'heloName'
    | 'maxMessageBytes'
    | 'maxRecipients'
    | 'smtpMaxConnections'
    | 'smtpIdleTimeoutMs'
    | 'smtpAuthMaxFailures'
    | 'smtpAuthBlockMs'
  >
  logger: Logger
  apiKeys: Pick<ApiKeyService, 'authenticate'>
  emails: Pick<EmailService, 'submit'>
  tls: TlsPair
}

export interface SubmissionServer {
  smtpPort: number
  smtpsPort: number
  close(): Promise<void>
}

const principalOf = (session: SMTPServerSession): Principal => session.user as unknown as Principal

/**
 * SMTP submission on two listeners: STARTTLS (587) and implicit TLS (465). An API key is the
 * password; AUTH is refused before TLS (538) and MAIL before AUTH (530), so Hikyaku is never an
 * open relay. A message gets `250 … queued as <id>` only once it is committed (C1).
 */
export async function startSubmission(deps: SubmissionDeps): Promise<SubmissionServer> {
  const { config, logger } = deps
  const throttle = createAuthThrottle({ maxFailures: config.smtpAuthMaxFailures, blockMs: config.smtpAuthBlockMs })

  const handlers: SMTPServerOptions = {
    name: config.heloName,
    banner: 'Hikyaku ESMTP submission',
    key: deps.tls.key,
    cert: deps.tls.cert,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    authOptional: false,
    size: config.maxMessageBytes,
    maxClients: config.smtpMaxConnections,
    socketTimeout: config.smtpIdleTimeoutMs,
    disabledCommands: [],
    logger: false,

    onConnect(session, callback) {
      if (throttle.isBlocked(session.remoteAddress)) {
        return callback(smtpError(421, '4.7.0', 'Too many failed logins from your address; try again later'))
      }
      callback()
    },

    onAuth(auth, session, callback) {
      const ip = session.remoteAddress
      if (throttle.isBlocked(ip)) return callback(smtpError(454, '4.7.0', 'Too many failed logins from your address; try again later'))
      deps.apiKeys.authenticate(auth.password ?? '').then(
        (principal) => {
          throttle.succeed(ip)
          callback(null, { user: principal as never })
        },
        (err: unknown) => {
          if (err instanceof AppError && err.code === 'unauthorized') {
            const delay = throttle.fail(ip)
            logger.warn({ ip, method: auth.method, user: auth.username, blocked: throttle.isBlocked(ip) }, 'SMTP login failed')
            setTimeout(
              () => callback(smtpError(535, '5.7.8', 'Authentication credentials invalid: the password must be an API key')),
              delay,
            )
          } else {
            logger.warn({ err: String(err) }, 'SMTP login could not be checked')
            callback(smtpError(454, '4.7.0', 'Temporary authentication failure; try again later'))
          }
        },
      )
    },

    onMailFrom(address, _session, callback) {
      const parsed = parseAddress(address.address)
      if (!parsed.ok) return callback(smtpError(553, '5.1.7', `Sender ${parsed.reason}`))
      callback()
    },

    onRcptTo(address, session, callback) {
      if (session.envelope.rcptTo.length >= config.maxRecipients) {
        return callback(smtpError(452, '4.5.3', `Too many recipients: at most ${config.maxRecipients} per message`))
      }
      const parsed = parseAddress(address.address)
      if (!parsed.ok) return callback(smtpError(553, '5.1.3', `Recipient ${parsed.reason}`))
      callback()
    },

    onData(stream, session, callback) {
      readCapped(stream, config.maxMessageBytes).then(
        async (raw) => {
          if (!raw) {
            return callback(smtpError(552, '5.3.4', `Message exceeds the maximum size of ${config.maxMessageBytes} bytes`))
          }
          try {
            const envelope = {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
            }
            const submission = await draftFromSmtp(raw, envelope)
            const result = await deps.emails.submit(principalOf(session), submission.draft, {
              source: 'smtp',
              raw: submission.raw,
              messageId: submission.messageId,
              idempotency: submission.idempotency,
            })
            callback(null, `2.0.0 Ok: queued as ${result.body.id}`)
          } catch (err) {
            if (!(err instanceof AppError)) logger.error({ err }, 'SMTP submission failed')
            callback(toSmtpError(err))
          }
        },
        (err) => callback(toSmtpError(err)),
      )
    },
  }

  const plain = new SMTPServer({ ...handlers, secure: false })
  const implicit = new SMTPServer({ ...handlers, secure: true })
  for (const server of [plain, implicit]) server.on('error', (err) => logger.warn({ err: err.message }, 'SMTP connection error'))
  const smtpPort = await listen(plain, config.smtpPort, config.smtpHost)
  const smtpsPort = await listen(implicit, config.smtpsPort, config.smtpHost)
  logger.info({ smtpPort, smtpsPort, host: config.smtpHost }, 'SMTP submission listening')

  return {
    smtpPort,
    smtpsPort,
    async close() {
      await Promise.all([plain, implicit].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    },
  }
}

/**
 * Reads the message while it streams in, keeping at most `max` bytes: an oversize message is
 * consumed to its end (the protocol requires it) but never buffered whole. Undefined when too big.
 */
function readCapped(stream: Readable & { sizeExceeded?: boolean }, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let tooBig = false
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > max) tooBig = true
      if (!tooBig) chunks.push(chunk)
      else chunks.length = 0
    })
    stream.once('error', reject)
    stream.once('end', () => resolve(tooBig || stream.sizeExceeded ? undefined : Buffer.concat(chunks, size)))
  })
}

function listen(server: SMTPServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(port, host, () => {
      server.server.removeListener('error', reject)
      resolve((server.server.address() as AddressInfo).port)
    })
  })
}
