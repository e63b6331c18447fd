import type { Container } from '../container.js'
import { createKeyRateLimit } from '../infra/key-rate-limit.js'
import { type SubmissionServer, startSubmission } from '../smtp/submission.server.js'
import { loadSmtpTls } from '../smtp/tls.js'

/** Starts SMTP submission (STARTTLS and implicit TLS); `close` stops both listeners. */
export async function startSmtp(container: Container): Promise<SubmissionServer> {
  return startSubmission({
    config: container.config,
    logger: container.logger.child({ component: 'smtp' }),
    apiKeys: container.services.apiKeys,
    emails: container.services.emails,
    tls: await loadSmtpTls(container.config),
    backlog: () => container.dispatcher.backlog(),
    metrics: container.metrics.submission,
    rateLimit: createKeyRateLimit({
      redis: container.requestRedis,
      prefix: container.config.bullmqPrefix,
      max: container.config.rateLimitMax,
      windowMs: container.config.rateLimitWindowMs,
    }),
  })
}
