import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server'
import type { Config } from '../config.js'
import type { KeyRateLimit } from '../infra/key-rate-limit.js'
import type { Logger } from '../infra/logger.js'
import { parseAddress } from '../lib/address.js'
import { admissionDelay } from '../lib/admission.js'
import { createByteBudget, readCapped } from '../lib/byte-budget.js'
import { AppError } from '../lib/errors.js'
import type { ApiKeyService } from '../modules/api-keys/api-key.service.js'
import type { Principal } from '../modules/api-keys/api-key.types.js'
import type { EmailService } from '../modules/emails/email.service.js'
import { draftFromSmtp } from '../modules/emails/smtp-submission.js'
import { streamsOf } from '../modules/streams/streams.js'
import { createAuthThrottle } from './auth-throttle.js'
import { type SmtpError, smtpError, toSmtpError } from './smtp-reply.js'
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
    | 'shutdownTimeoutMs'
    | 'streams'
  >
  logger: Logger
  apiKeys: Pick<ApiKeyService, 'authenticate'>
  emails: Pick<EmailService, 'submitDraft'>
  tls: TlsPair
  /** Deliveries waiting, for admission control. */
  backlog: () => Promise<number>
  rateLimit: KeyRateLimit
  /** The longest one message's DATA may take to arrive; DATA_TIME_LIMIT_MS unless a test shortens it. */
  dataTimeLimitMs?: number
  /** Counts answers and accept latency (the process's metrics). */
  metrics?: SubmissionMetrics
}

/** What submission tells the process's metrics (src/infra/metrics.groups.ts); cheap, never throws. */
export interface SubmissionMetrics {
  /** The answer to a message (its reply code), and the seconds from its final dot to the answer when it was read whole. */
  message(code: number, seconds?: number): void
  /** A MAIL FROM refused (a bad sender, admission control, the rate limit, a revoked key): the reply code. */
  refusedAtMail(code: number): void
  /** A login refused for a wrong API key. */
  authFailed(): void
}

export interface SubmissionServer {
  smtpPort: number
  smtpsPort: number
  close(): Promise<void>
}

/**
 * What a session keeps of its login: the principal, and the API key itself so that it can be
 * checked again at each MAIL FROM (a key revoked mid-session stops working at the next message).
 */
interface Login {
  principal: Principal
  token: string
}

const loginOf = (session: SMTPServerSession): Login => session.user as unknown as Login
const principalOf = (session: SMTPServerSession): Principal => loginOf(session).principal

/**
 * A message is held several times over while it is committed: the chunks and their
 * concatenation, the stored bytes (Bcc and option headers removed), their base64 and the JSON
 * carrying it to the database, the wire buffer. One 21.5 MB message peaked at 202 MB of heap and
 * external memory (9.4×, garbage not yet collected included), two at once at 231 MB (5.4× each).
 * The budget charges every byte read this many times, so that it bounds memory, not message bytes.
 */
const COPIES = 6

/**
 * The longest the bytes of one message may take to arrive, from the 354 to the final dot. The
 * idle timeout (SMTP_IDLE_TIMEOUT) alone does not bound it: a client sending a byte just before
 * each timeout would hold its share of the budget for hours. Ten minutes, fixed rather than
 * derived from the idle timeout (which is about silence, not about speed): RFC 5321 gives the
 * client 10 minutes for its whole exchange after DATA, and a maximum-size message (25 MiB by
 * default) then needs about 45 kB/s, which any real submission client exceeds by far.
 */
export const DATA_TIME_LIMIT_MS = 10 * 60_000

/** What a failed login may log of the user name: whether it holds an API key, never its text. */
const looksLikeKey = (value: string | null | undefined): boolean => typeof value === 'string' && /^hk_/i.test(value.trim())

/**
 * SMTP submission on two listeners: STARTTLS (587) and implicit TLS (465). An API key is the
 * password; AUTH is refused before TLS (538) and MAIL before AUTH (530), so Hikyaku is never an
 * open relay. A message gets `250 … queued as <id>` only once it is committed (C1).
 */
export async function startSubmission(deps: SubmissionDeps): Promise<SubmissionServer> {
  const { config, logger } = deps
  const streams = streamsOf(config.streams)
  const throttle = createAuthThrottle({ maxFailures: config.smtpAuthMaxFailures, blockMs: config.smtpAuthBlockMs })
  // Memory held by messages being received and committed, bounded for the whole process (each
  // message charged COPIES times its size): many large messages at once get a temporary refusal
  // instead of exhausting memory, and one message larger than the budget still goes, alone.
  const buffers = createByteBudget(Math.max(8 * config.maxMessageBytes, 64 * 1024 * 1024))
  const dataTimeLimitMs = deps.dataTimeLimitMs ?? DATA_TIME_LIMIT_MS
  const servers: SMTPServer[] = []
  /** The connection a session belongs to (smtp-server gives handlers the session only). */
  const connectionOf = (session: SMTPServerSession) => {
    for (const server of servers) for (const connection of server.connections) if (connection.session === session) return connection
    return undefined
  }

  /**
   * Checks at MAIL FROM, once per message: the session's key is still valid, and the same
   * admission control and per-key rate limit as HTTP. Resolves to the refusal, if any.
   */
  async function admitMessage(session: SMTPServerSession): Promise<SmtpError | undefined> {
    const login = loginOf(session)
    const [key, backlog, limit] = await Promise.all([
      deps.apiKeys.authenticate(login.token).then(
        (principal) => ({ principal }),
        (err: unknown) => ({ err }),
      ),
      deps.backlog(),
      deps.rateLimit.hit(login.principal.keyId),
    ])
    if ('err' in key) {
      // Suspended since this session logged in: every message is refused until the operator lifts it.
      if (key.err instanceof AppError && key.err.code === 'account_suspended') return smtpError(550, '5.7.1', key.err.message)
      if (!(key.err instanceof AppError && key.err.code === 'unauthorized')) {
        logger.warn({ err: key.err }, 'SMTP session key could not be checked again')
        return smtpError(451, '4.3.0', 'Cannot check your API key right now; try again later')
      }
      // RFC 4954: 535 answers AUTH only; 530 answers a command sent while "authentication is not
      // currently in force", which is what a revoked key means. The session forgets its login, so
      // the client may AUTH again with a valid key on this connection (smtp-server refuses a
      // second AUTH while a user is set); until then every MAIL gets smtp-server's own 530.
      session.user = false
      return smtpError(530, '5.7.0', 'Authentication required: the API key this session logged in with was revoked')
    }
    login.principal = key.principal
    const wait = admissionDelay(backlog, config.admissionMaxBacklog)
    if (wait !== undefined) return smtpError(451, '4.3.0', `Hikyaku is busy working through its backlog; try again in ${wait} s`)
    if (limit.retryAfter) return smtpError(451, '4.7.1', `Rate limit exceeded for this API key; try again in ${limit.retryAfter} s`)
    return undefined
  }

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
    // On close, sessions still open (idle ones too) get this long to finish, then 421: a stop is
    // bounded by SHUTDOWN_TIMEOUT instead of smtp-server's 30 s default.
    closeTimeout: config.shutdownTimeoutMs,
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
      const token = auth.password ?? ''
      deps.apiKeys.authenticate(token).then(
        (principal) => {
          throttle.succeed(ip)
          const login: Login = { principal, token }
          callback(null, { user: login as never })
        },
        (err: unknown) => {
          if (err instanceof AppError && err.code === 'unauthorized') {
            const delay = throttle.fail(ip)
            deps.metrics?.authFailed()
            // Never the user name itself: a client that swaps the fields puts its API key there.
            const hint = { usernameIsKey: looksLikeKey(auth.username), passwordIsKey: looksLikeKey(auth.password) }
            logger.warn({ ip, method: auth.method, ...hint, blocked: throttle.isBlocked(ip) }, 'SMTP login failed')
            setTimeout(
              () => callback(smtpError(535, '5.7.8', 'Authentication credentials invalid: the password must be an API key')),
              delay,
            )
          } else if (err instanceof AppError && err.code === 'account_suspended') {
            // The key is right, so no failure is counted against the address; the refusal is permanent.
            logger.info({ ip, method: auth.method }, 'SMTP login refused: account suspended')
            callback(smtpError(535, '5.7.8', `Authentication refused. ${err.message}`))
          } else {
            logger.warn({ err: String(err) }, 'SMTP login could not be checked')
            callback(smtpError(454, '4.7.0', 'Temporary authentication failure; try again later'))
          }
        },
      )
    },

    onMailFrom(address, session, callback) {
      const answer = (refusal: SmtpError | undefined) => {
        if (refusal) deps.metrics?.refusedAtMail(refusal.responseCode)
        callback(refusal)
      }
      const parsed = parseAddress(address.address)
      if (!parsed.ok) return answer(smtpError(553, '5.1.7', `Sender ${parsed.reason}`))
      admitMessage(session).then(answer, (err) => answer(toSmtpError(err)))
    },

    onRcptTo(address, session, callback) {
      if (session.envelope.rcptTo.length >= config.maxRecipients) {
        return callback(smtpError(452, '4.5.3', `Too many recipients: at most ${config.maxRecipients} per message`))
      }
      const parsed = parseAddress(address.address)
      if (!parsed.ok) return callback(smtpError(553, '5.1.3', `Recipient ${parsed.reason}`))
      callback()
    },

    onData(stream, session, reply) {
      // Every answer to a message is counted; its latency runs from the final dot (the message read whole) to the answer.
      let readAt: number | undefined
      const callback: typeof reply = (err, message) => {
        const seconds = readAt === undefined ? undefined : (performance.now() - readAt) / 1000
        deps.metrics?.message(err ? ((err as Partial<SmtpError>).responseCode ?? 451) : 250, seconds)
        reply(err, message)
      }
      readCapped(stream, config.maxMessageBytes, buffers, COPIES, dataTimeLimitMs).then(
        async (read) => {
          if (read === 'too_slow') {
            // The reply to DATA only goes out once the stream ends, and this one may never end:
            // the conversation is over. 421 (temporary) closes the connection; nothing was kept.
            const limit =
              dataTimeLimitMs >= 60_000 ? `${Math.round(dataTimeLimitMs / 60_000)} min` : `${Math.ceil(dataTimeLimitMs / 1000)} s`
            logger.warn({ ip: session.remoteAddress, limitMs: dataTimeLimitMs }, 'SMTP message not received in time; connection closed')
            const text = `The message did not arrive within ${limit}; try again later`
            const connection = connectionOf(session)
            if (connection) {
              deps.metrics?.message(421)
              return connection.send(421, `4.4.2 ${text}`, false)
            }
            return callback(smtpError(451, '4.4.2', text))
          }
          if (read === 'too_big') {
            return callback(smtpError(552, '5.3.4', `Message exceeds the maximum size of ${config.maxMessageBytes} bytes`))
          }
          if (read === 'no_room') return callback(smtpError(451, '4.3.1', 'Insufficient system storage right now; try again later'))
          const { raw, reservation } = read
          readAt = performance.now()
          try {
            const envelope = {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
            }
            const submission = await draftFromSmtp(raw, envelope, { streams })
            const result = await deps.emails.submitDraft(principalOf(session), submission)
            callback(null, `2.0.0 Ok: queued as ${result.body.id}`)
          } catch (err) {
            if (!(err instanceof AppError) || err.code === 'internal') logger.error({ err }, 'SMTP submission failed')
            callback(toSmtpError(err))
          } finally {
            reservation.release()
          }
        },
        (err) => callback(toSmtpError(err)),
      )
    },
  }

  const plain = new SMTPServer({ ...handlers, secure: false })
  const implicit = new SMTPServer({ ...handlers, secure: true })
  servers.push(plain, implicit)
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

function listen(server: SMTPServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(port, host, () => {
      server.server.removeListener('error', reject)
      resolve((server.server.address() as AddressInfo).port)
    })
  })
}
