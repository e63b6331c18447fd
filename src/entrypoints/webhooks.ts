import type { Container } from '../container.js'
import { createWebhookClient } from '../infra/webhook-http.js'
import { createWebhookSender } from '../modules/webhooks/webhook.sender.js'
import type { Stop } from './lifecycle.js'

/**
 * Starts webhook delivery: the fan-out from the events feed and the sender, in a process role of
 * their own so that slow or failing endpoints never take CPU or connections from mail delivery.
 */
export async function startWebhooks(container: Container): Promise<Stop> {
  const { config, logger } = container
  const client = createWebhookClient({
    timeoutMs: config.webhookTimeoutMs,
    allowPrivate: config.webhookAllowPrivate,
    maxSocketsPerHost: config.webhookConcurrency,
  })
  const sender = createWebhookSender({
    ...container.webhookParts,
    poster: client,
    logger: logger.child({ component: 'webhooks' }),
    onOutcome: container.metrics.webhooks.outcome,
    options: {
      concurrency: config.webhookConcurrency,
      timeoutMs: config.webhookTimeoutMs,
      retryScheduleMs: config.webhookRetryScheduleMs,
      disableAfterMs: config.webhookDisableAfterMs,
    },
  })
  sender.start()
  logger.info({ concurrency: config.webhookConcurrency }, 'webhook sender started')
  return async () => {
    await sender.stop(config.shutdownTimeoutMs)
    client.close()
  }
}
