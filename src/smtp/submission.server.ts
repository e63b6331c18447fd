import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server'
import type { Config } from '../config.js'
import type { KeyRateLimit } from '../infra/key-rate-limit.js'
import type { Logger } from '../infra/logger.js'
import { parseAddress } from '../lib/address.js'
import { admissionDelay } from '../lib/admission.js'
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
    | 'admissionMaxBacklog'
  >
  logger: Logger
  apiKeys: Pick<ApiKeyService, 'authenticate'>
  emails: Pick<EmailService, 'submitDraft'>
  tls: TlsPair
  /** Deliveries waiting, for admission control. */
  backlog: () => Promise<number>
  rateLimit: KeyRateLimit
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
  // Messages being received and committed, in bytes: bounded for the whole process, so many
  // large messages at once get a temporary refusal instead of exhausting memory.
  const buffers = byteBudget(Math.max(8 * config.maxMessageBytes, 64 * 1024 * 1024))

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

    onMailFrom(address, session, callback) {
      const parsed = parseAddress(address.address)
      if (!parsed.ok) return callback(smtpError(553, '5.1.7', `Sender ${parsed.reason}`))
      // The same admission control and per-key rate limit as HTTP, counted once per message.
      Promise.all([deps.backlog(), deps.rateLimit.hit(principalOf(session).keyId)]).then(
        ([backlog, limit]) => {
          const wait = admissionDelay(backlog, config.admissionMaxBacklog)
          if (wait !== undefined)
            return callback(smtpError(451, '4.3.0', `Working through a backlog of ${backlog} deliveries; try again in ${wait} s`))
          if (limit.retryAfter)
            return callback(smtpError(451, '4.7.1', `Rate limit exceeded for this API key; try again in ${limit.retryAfter} s`))
          callback()
        },
        (err) => callback(toSmtpError(err)),
      )
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
      readCapped(stream, config.maxMessageBytes, buffers).then(
        async (read) => {
          if (read === 'too_big') {
            return callback(smtpError(552, '5.3.4', `Message exceeds the maximum size of ${config.maxMessageBytes} bytes`))
          }
          if (read === 'no_room') return callback(smtpError(451, '4.3.1', 'Insufficient system storage right now; try again later'))
          const raw = read
          try {
            const envelope = {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
            }
            const submission = await draftFromSmtp(raw, envelope)
            const result = await deps.emails.submitDraft(principalOf(session), submission)
            callback(null, `2.0.0 Ok: queued as ${result.body.id}`)
          } catch (err) {
            if (!(err instanceof AppError)) logger.error({ err }, 'SMTP submission failed')
            callback(toSmtpError(err))
          } finally {
            buffers.release(raw.length)
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

function byteBudget(limit: number) {
  let used = 0
  return {
    take(n: number): boolean {
      if (used + n > limit) return false
      used += n
      return true
    },
    release(n: number): void {
      used -= n
    },
  }
}

type ByteBudget = ReturnType<typeof byteBudget>

/**
 * Reads the message while it streams in, keeping at most `max` bytes: an oversize message is
 * consumed to its end (the protocol requires it) but never buffered whole. Bytes kept are taken
 * from the process's budget; the caller releases them once the message is committed.
 */
function readCapped(
  stream: Readable & { sizeExceeded?: boolean },
  max: number,
  budget: ByteBudget,
): Promise<Buffer | 'too_big' | 'no_room'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let refused: 'too_big' | 'no_room' | undefined
    const drop = () => {
      budget.release(chunks.reduce((n, c) => n + c.length, 0))
      chunks.length = 0
    }
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (refused) return
      if (size > max) refused = 'too_big'
      else if (!budget.take(chunk.length)) refused = 'no_room'
      if (refused) drop()
      else chunks.push(chunk)
    })
    stream.once('error', (err) => {
      drop()
      reject(err)
    })
    stream.once('end', () => {
      if (!refused && stream.sizeExceeded) refused = 'too_big'
      if (refused) {
        drop()
        resolve(refused)
      } else resolve(Buffer.concat(chunks, size))
    })
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
