import type { Container } from '../container.js'
import { AppError } from '../lib/errors.js'
import { startInbound } from '../smtp/inbound.server.js'
import { loadSmtpTls } from '../smtp/tls.js'
import type { Stop } from './lifecycle.js'

/** Starts the inbound listener for bounces and complaints. */
export async function startInboundRole(container: Container): Promise<Stop> {
  const server = await startInbound({
    config: container.config,
    logger: container.logger.child({ component: 'inbound' }),
    feedback: container.services.feedback,
    unsubscribe: container.services.unsubscribe,
    tls: await loadSmtpTls(container.config),
  })
  return server.close
}

/** sysexits(3) EX_TEMPFAIL: an MTA's pipe transport keeps the message and tries again later. */
const EX_TEMPFAIL = 75

/**
 * `hikyaku inbound --stdin`: one report piped in by an operator's own MTA (a pipe transport or an
 * alias); prints what was stored as one JSON line. The recipient is the address it was sent to, when the MTA passes it; without one the
 * report is matched by the return path in its returned header, or its Message-ID.
 */
export async function receiveStdin(
  container: Container,
  input: NodeJS.ReadableStream,
  recipient: string | undefined,
): Promise<string | number> {
  const { config, logger } = container
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of input) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)
    // Past the limit the rest is read and dropped: only the start of a report is parsed and
    // kept, and an MTA whose pipe is not read to its end reports a failure.
    if (size < config.inboundMaxBytes) chunks.push(buf.subarray(0, config.inboundMaxBytes - size))
    size += buf.length
  }
  if (size > config.inboundMaxBytes) logger.warn({ bytes: size, maxBytes: config.inboundMaxBytes }, 'report truncated to INBOUND_MAX_BYTES')
  try {
    const result = await container.services.feedback.receive({
      raw: Buffer.concat(chunks),
      mailFrom: '',
      rcptTo: recipient ? [recipient] : [],
    })
    return JSON.stringify({ report_id: result.reportId, kind: result.kind, matched: result.matched })
  } catch (err) {
    logger.error({ err }, 'the report could not be stored')
    return err instanceof AppError && err.code !== 'unavailable' ? 1 : EX_TEMPFAIL
  }
}
