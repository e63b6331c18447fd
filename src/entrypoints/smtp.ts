import type { Container } from '../container.js'
import { startSubmission } from '../smtp/submission.server.js'
import { loadSmtpTls } from '../smtp/tls.js'
import type { Stop } from './lifecycle.js'

/** Starts SMTP submission (STARTTLS and implicit TLS); the returned function stops both listeners. */
export async function startSmtp(container: Container): Promise<Stop> {
  const server = await startSubmission({
    config: container.config,
    logger: container.logger.child({ component: 'smtp' }),
    apiKeys: container.services.apiKeys,
    emails: container.services.emails,
    tls: await loadSmtpTls(container.config),
  })
  return () => server.close()
}
