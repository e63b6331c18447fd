import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerSession } from 'smtp-server'
import type { Config } from '../config.js'
import type { Logger } from '../infra/logger.js'
import { createByteBudget, readCapped } from '../lib/byte-budget.js'
import { AppError } from '../lib/errors.js'
import type { FeedbackService } from '../modules/feedback/feedback.service.js'
import type { UnsubscribeService } from '../modules/unsubscribe/unsubscribe.service.js'
import { smtpError, toSmtpError } from './smtp-reply.js'
import { DATA_TIME_LIMIT_MS } from './submission.server.js'
import type { TlsPair } from './tls.js'

export interface InboundDeps {
  config: Pick<
    Config,
    'inboundHost' | 'inboundPort' | 'inboundMaxBytes' | 'heloName' | 'smtpMaxConnections' | 'smtpIdleTimeoutMs' | 'shutdownTimeoutMs'
  >
  logger: Logger
  feedback: Pick<FeedbackService, 'accepts' | 'receive'>
  /** Mail to a signed `unsubscribe+<token>@…` address (the mailto of List-Unsubscribe). */
  unsubscribe?: Pick<UnsubscribeService, 'accepts' | 'byMail'>
  tls: TlsPair
}

export interface InboundServer {
  port: number
  close(): Promise<void>
}

/** A report names one delivery; a handful of recipients per message is all a real sender needs. */
const MAX_RECIPIENTS = 20
/** Each byte read is held about twice (the chunks and their concatenation) while it is parsed. */
const COPIES = 2

/**
 * The MX of the return-path domains: takes DSNs, complaints and unsubscribe requests, nothing
 * else. RCPT is accepted only for a signed return path (`bounces+<delivery>-<tag>@…`), a signed
 * unsubscribe address (`unsubscribe+<token>@…`, whose message is not even read) or the complaint address; every
 * other address gets 550 5.1.1, so this is neither an open relay nor a mailbox. No AUTH; STARTTLS
 * is offered because senders of reports use it when they can. A report gets 250 once it is stored
 * (parsed or not); 451 while the database is away, so that the sender keeps it and retries.
 */
export async function startInbound(deps: InboundDeps): Promise<InboundServer> {
  const { config, logger, feedback } = deps
  const buffers = createByteBudget(Math.max(4 * config.inboundMaxBytes, 64 * 1024 * 1024))
  const server = new SMTPServer({
    name: config.heloName,
    banner: 'Hikyaku ESMTP feedback',
    key: deps.tls.key,
    cert: deps.tls.cert,
    authOptional: true,
    disabledCommands: ['AUTH'],
    size: config.inboundMaxBytes,
    maxClients: config.smtpMaxConnections,
    socketTimeout: config.smtpIdleTimeoutMs,
    closeTimeout: config.shutdownTimeoutMs,
    logger: false,

    onRcptTo(address, session, callback) {
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) {
        return callback(smtpError(452, '4.5.3', `Too many recipients: at most ${MAX_RECIPIENTS} per message`))
      }
      if (deps.unsubscribe?.accepts(address.address)) return callback()
      feedback.accepts(address.address).then(
        (ok) => callback(ok ? undefined : smtpError(550, '5.1.1', 'No such recipient here')),
        (err) => callback(toSmtpError(err)),
      )
    },

    onData(stream, session, callback) {
      readCapped(stream, config.inboundMaxBytes, buffers, COPIES, DATA_TIME_LIMIT_MS).then(
        async (read) => {
          if (read === 'too_big') return callback(smtpError(552, '5.3.4', `Reports are limited to ${config.inboundMaxBytes} bytes`))
          if (read === 'no_room' || read === 'too_slow')
            return callback(smtpError(451, '4.3.1', 'Cannot take this report right now; try again later'))
          try {
            const envelope = envelopeOf(session)
            const unsubscribing = envelope.rcptTo.filter((a) => deps.unsubscribe?.accepts(a))
            const reports = envelope.rcptTo.filter((a) => !unsubscribing.includes(a))
            if (unsubscribing.length > 0) await deps.unsubscribe?.byMail(unsubscribing)
            if (reports.length === 0) return callback(null, '2.0.0 Ok: unsubscribed')
            const result = await feedback.receive({ raw: read.raw, mailFrom: envelope.mailFrom, rcptTo: reports })
            callback(null, `2.0.0 Ok: report ${result.reportId}`)
          } catch (err) {
            if (!(err instanceof AppError) || err.code === 'internal') logger.error({ err }, 'an inbound report could not be stored')
            callback(
              err instanceof AppError && err.code !== 'internal'
                ? toSmtpError(err)
                : smtpError(451, '4.3.0', 'Cannot store this report right now; try again later'),
            )
          } finally {
            read.reservation.release()
          }
        },
        (err) => callback(toSmtpError(err)),
      )
    },
  })
  server.on('error', (err) => logger.warn({ err: String(err) }, 'inbound SMTP connection error'))
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject)
    server.listen(config.inboundPort, config.inboundHost, () => resolve())
  })
  const port = (server.server.address() as AddressInfo).port
  logger.info({ host: config.inboundHost, port }, 'inbound listener for bounces and complaints')
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

const envelopeOf = (session: SMTPServerSession) => ({
  mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
  rcptTo: session.envelope.rcptTo.map((r) => r.address),
})
