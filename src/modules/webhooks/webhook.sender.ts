import type { Logger } from '../../infra/logger.js'
import { createBatcher } from '../../lib/batcher.js'
import type { SecretBox } from '../../lib/secret-box.js'
import type { EndpointRepository } from './endpoint.repository.js'
import { wants } from './webhook.match.js'
import type { WebhookPoster } from './webhook.port.js'
import type { WebhookRepository } from './webhook.repository.js'
import { nextWebhookAttempt } from './webhook.schedule.js'
import { webhookHeaders } from './webhook.sign.js'
import type { ClaimedWebhook, WebhookResult } from './webhook.types.js'

export interface WebhookSenderOptions {
  concurrency: number
  timeoutMs: number
  retryScheduleMs: readonly number[]
  disableAfterMs: number
  /** How often an idle sender and fan-out look for work. */
  pollMs?: number
}

const FANOUT_BATCH = 1_000
const CLAIM_BATCH = 200
const HEALTH_EVERY_MS = 60_000
/** The sealed secrets' associated data: a secret opens only for its own endpoint. */
export const webhookSecretAad = (endpointId: string) => `webhook:${endpointId}`

/**
 * Webhooks out, on their own loop and their own table-backed queue (webhook_deliveries), apart
 * from mail delivery: the fan-out reads each subscribed account's events feed and creates one
 * delivery per (endpoint, event); the sender claims due deliveries, POSTs them signed (Standard
 * Webhooks, webhook-id = the event id, so a repeat is recognisable), and records each outcome
 * with its retry time. Every row is written before anything is sent and claimed with a lease, so
 * a process that dies loses nothing: at least once.
 */
export function createWebhookSender(deps: {
  webhooks: WebhookRepository
  endpoints: EndpointRepository
  poster: WebhookPoster
  box: SecretBox
  logger: Logger
  options: WebhookSenderOptions
  /** Told of each POST's outcome: a success, a failure to retry, or one given up (the process's metrics). */
  onOutcome?: (outcome: 'succeeded' | 'retried' | 'failed') => void
}) {
  const { webhooks, endpoints, poster, box, logger, options } = deps
  const pollMs = options.pollMs ?? 200
  const leaseMs = options.timeoutMs + 30_000
  const stopping = new AbortController()
  let inflight = 0
  const sender = sleeper(stopping.signal)
  const fanout = sleeper(stopping.signal)

  const recorder = createBatcher<WebhookResult, boolean>({
    maxBatchSize: 200,
    concurrency: 2,
    run: async (results) => {
      const updated = await webhooks.record(results)
      return results.map((r) => updated.has(r.id))
    },
  })

  /** A result is written until it is stored or the lease is over (then the delivery is sent again). */
  async function record(result: WebhookResult, claimedAt: number): Promise<void> {
    for (let delay = 200; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await recorder.push(result)
        return
      } catch (err) {
        if (Date.now() + delay > claimedAt + leaseMs) {
          logger.warn({ err: String(err), delivery: result.id }, 'a webhook outcome could not be recorded; it will be sent again')
          return
        }
        await new Promise((resolve) => setTimeout(resolve, delay))
      }
    }
  }

  async function send(w: ClaimedWebhook, claimedAt: number): Promise<void> {
    let result: WebhookResult
    try {
      const secrets = [box.open(w.secret, webhookSecretAad(w.endpointId))]
      if (w.previousSecret) secrets.push(box.open(w.previousSecret, webhookSecretAad(w.endpointId)))
      const body = JSON.stringify({ type: w.event.type, timestamp: w.event.created_at.toISOString(), data: w.event })
      const headers = webhookHeaders(secrets, w.event.id, Math.floor(Date.now() / 1000), body)
      const res = await poster.post(w.url, headers, body)
      const next = res.ok ? null : nextWebhookAttempt(options.retryScheduleMs, w.attempt, Date.now())
      result = {
        id: w.id,
        endpointId: w.endpointId,
        eventId: w.event.id,
        attempt: w.attempt,
        ok: res.ok,
        statusCode: res.status ?? null,
        error: res.error ? `${res.error.code}: ${res.error.message}`.slice(0, 500) : res.ok ? null : `HTTP ${res.status}`,
        responseBody: res.body ?? null,
        durationMs: Math.round(res.durationMs),
        nextAttemptAt: next,
      }
    } catch (err) {
      // Our own failure (a secret that no longer opens): retried on the schedule like any other.
      logger.error({ err, endpoint: w.endpointId }, 'a webhook could not be prepared')
      result = {
        id: w.id,
        endpointId: w.endpointId,
        eventId: w.event.id,
        attempt: w.attempt,
        ok: false,
        statusCode: null,
        error: 'internal: the request could not be prepared',
        responseBody: null,
        durationMs: 0,
        nextAttemptAt: nextWebhookAttempt(options.retryScheduleMs, w.attempt, Date.now()),
      }
    }
    deps.onOutcome?.(result.ok ? 'succeeded' : result.nextAttemptAt ? 'retried' : 'failed')
    await record(result, claimedAt)
  }

  async function sendLoop(): Promise<void> {
    while (!stopping.signal.aborted) {
      const room = Math.min(CLAIM_BATCH, options.concurrency - inflight)
      if (room <= 0) {
        await sender.sleep(pollMs)
        continue
      }
      let claimed: ClaimedWebhook[] = []
      try {
        claimed = await webhooks.claim(room, leaseMs)
      } catch (err) {
        logger.warn({ err: String(err) }, 'could not claim webhooks; retrying')
      }
      const claimedAt = Date.now()
      for (const w of claimed) {
        inflight++
        void send(w, claimedAt).finally(() => {
          inflight--
          sender.wake()
        })
      }
      if (claimed.length < room) await sender.sleep(pollMs)
    }
  }

  async function fanoutLoop(): Promise<void> {
    let lastHealth = 0
    while (!stopping.signal.aborted) {
      let busy = false
      try {
        for (const accountId of await webhooks.fanoutAccounts()) {
          const done = await webhooks.fanOut(accountId, FANOUT_BATCH, (eps, events) =>
            events.flatMap((ev) => eps.filter((ep) => wants(ep, ev)).map((ep) => ({ endpointId: ep.id, eventId: ev.id }))),
          )
          if (done && done.events === FANOUT_BATCH) busy = true
          if (done && done.deliveries > 0) sender.wake()
        }
        if (Date.now() - lastHealth > Math.min(HEALTH_EVERY_MS, options.disableAfterMs / 2)) {
          lastHealth = Date.now()
          for (const d of await endpoints.disableFailing(options.disableAfterMs)) {
            logger.warn({ endpoint: d.id, account: d.accountId }, 'webhook endpoint disabled after failing too long')
          }
        }
      } catch (err) {
        logger.warn({ err: String(err) }, 'webhook fan-out failed; retrying')
      }
      if (!busy) await fanout.sleep(pollMs)
    }
  }

  let loops: Promise<unknown> | undefined
  return {
    start(): void {
      loops ??= Promise.all([sendLoop(), fanoutLoop()])
    },
    /** Stops claiming and fanning out; waits (at most `graceMs`) for requests in flight to be recorded. */
    async stop(graceMs: number): Promise<void> {
      stopping.abort()
      await loops
      const deadline = Date.now() + graceMs
      while (inflight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      await recorder.drain()
    },
  }
}

export type WebhookSender = ReturnType<typeof createWebhookSender>

/** A pause that ends early on `wake()` (new work) or when the loop is stopping. */
function sleeper(signal: AbortSignal) {
  let wake: (() => void) | undefined
  return {
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          signal.removeEventListener('abort', done)
          wake = undefined
          resolve()
        }
        const timer = setTimeout(done, ms)
        wake = done
        signal.addEventListener('abort', done, { once: true })
      }),
    wake: () => wake?.(),
  }
}
