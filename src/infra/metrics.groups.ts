import { Histogram, type Metric } from 'prom-client'
import type { DeliveryMetrics } from '../modules/delivery/metrics.port.js'
import { createTally, type Slot } from './metrics.tally.js'

/**
 * The metrics counted as things happen, one group per process role. Every label takes a bounded
 * set of values: configured stream names, route patterns, fixed outcome and kind names; never an
 * address, a domain, an id or a URL as asked for.
 */

/** Seconds: an accept commits in milliseconds, a stalled database takes seconds. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Streams counted apart at most (STREAMS configures far fewer); any more share `other`. */
const MAX_STREAMS = 64
/** Route patterns timed apart at most (the app has far fewer); any more share `other`. */
const MAX_ROUTES = 500

export interface MetricGroup<H> {
  metrics: Metric[]
  hooks: H
}

const OUTCOMES = ['sent', 'delivered', 'deferred', 'failed', 'expired'] as const
const BOUNCE_CATEGORIES = ['hard', 'soft', 'policy', 'unknown'] as const

/** Claims, outcomes and sweeps of a delivering process (worker, all). */
export function createDeliveryGroup(streams: readonly string[]): MetricGroup<DeliveryMetrics> {
  const deliveries = createTally(
    'hikyaku_deliveries_total',
    'Recipient outcomes of delivery attempts, as recorded, by stream, outcome and bounce category (none unless bounced)',
    ['stream', 'outcome', 'bounce_category'],
  )
  const claims = createTally('hikyaku_delivery_claims_total', 'Recipients claimed for a delivery attempt, by stream', ['stream'])
  const takeovers = createTally(
    'hikyaku_delivery_takeovers_total',
    'Recipients claimed from an attempt whose lease had lapsed (its worker died or stalled), by stream',
    ['stream'],
  )
  const sweeps = createTally('hikyaku_sweeps_total', 'Sweeps, by result: ran, or skipped (another process held the sweeper lock)', [
    'result',
  ])
  const expired = createTally('hikyaku_sweeper_expired_total', 'Recipients the sweeper expired (older than MAX_DELIVERY_AGE)', [])
  const promoted = createTally('hikyaku_sweeper_promoted_total', 'Scheduled recipients the sweeper queued once due', [])
  const redispatched = createTally(
    'hikyaku_sweeper_redispatched_total',
    'Delivery jobs the sweeper added again because they were missing from their lane',
    [],
  )

  interface Lane {
    outcome: Record<string, Slot>
    bounced: Record<string, Slot>
    claims: Slot
    takeovers: Slot
  }
  const lanes = new Map<string, Lane>()
  const makeLane = (stream: string): Lane => {
    const lane: Lane = {
      outcome: Object.fromEntries(OUTCOMES.map((o) => [o, deliveries.slot(stream, o, 'none')])),
      bounced: Object.fromEntries(BOUNCE_CATEGORIES.map((c) => [c, deliveries.slot(stream, 'bounced', c)])),
      claims: claims.slot(stream),
      takeovers: takeovers.slot(stream),
    }
    lanes.set(stream, lane)
    return lane
  }
  const laneOf = (stream: string): Lane =>
    lanes.get(stream) ?? (lanes.size < MAX_STREAMS ? makeLane(stream) : (lanes.get('other') ?? makeLane('other')))
  for (const stream of streams.slice(0, MAX_STREAMS)) makeLane(stream)

  const ran = sweeps.slot('ran')
  const skipped = sweeps.slot('skipped')
  const expiredSlot = expired.slot()
  const promotedSlot = promoted.slot()
  const redispatchedSlot = redispatched.slot()

  return {
    metrics: [deliveries, claims, takeovers, sweeps, expired, promoted, redispatched].map((t) => t.metric),
    hooks: {
      claimed(stream, recipients) {
        const lane = laneOf(stream)
        lane.claims.value += recipients.length
        for (const r of recipients) if (r.takenOver) lane.takeovers.value++
      },
      recorded(stream, outcomes) {
        const lane = laneOf(stream)
        for (const o of outcomes) {
          const slot = o.status === 'bounced' ? lane.bounced[o.bounceCategory ?? 'unknown'] : lane.outcome[o.status]
          if (slot) slot.value++
        }
      },
      swept(stats) {
        if (!stats.ran) {
          skipped.value++
          return
        }
        ran.value++
        expiredSlot.value += stats.expired
        promotedSlot.value += stats.promoted
        redispatchedSlot.value += stats.redispatched
      },
    },
  }
}

/** `accepted`, `tempfail` or `rejected`, from an SMTP reply code. */
export const smtpResult = (code: number): 'accepted' | 'tempfail' | 'rejected' =>
  code < 400 ? 'accepted' : code < 500 ? 'tempfail' : 'rejected'

/** What SMTP submission reports (the shape src/smtp/submission.server.ts asks for). */
export interface SubmissionHooks {
  message(code: number, seconds?: number): void
  refusedAtMail(code: number): void
  authFailed(): void
}

/** SMTP submission: answers to messages, how long their commit took, and refused logins. */
export function createSubmissionGroup(): MetricGroup<SubmissionHooks> {
  const submissions = createTally(
    'hikyaku_smtp_submissions_total',
    'SMTP submission answers, by stage (mail: refused at MAIL FROM; data: the answer to a message) and result (accepted, tempfail, rejected)',
    ['stage', 'result'],
  )
  const latency = new Histogram({
    name: 'hikyaku_smtp_submission_seconds',
    help: 'Accept latency of SMTP submission: from the final dot of a message to the answer (its commit), by result',
    labelNames: ['result'],
    buckets: LATENCY_BUCKETS,
    registers: [],
  })
  const authFailures = createTally('hikyaku_smtp_auth_failures_total', 'SMTP logins refused for a wrong API key', [])
  const data = {
    accepted: submissions.slot('data', 'accepted'),
    tempfail: submissions.slot('data', 'tempfail'),
    rejected: submissions.slot('data', 'rejected'),
  }
  const mail = { tempfail: submissions.slot('mail', 'tempfail'), rejected: submissions.slot('mail', 'rejected') }
  const timers = { accepted: latency.labels('accepted'), tempfail: latency.labels('tempfail'), rejected: latency.labels('rejected') }
  for (const result of Object.keys(timers)) latency.zero({ result })
  const authFailed = authFailures.slot()
  return {
    metrics: [submissions.metric, latency, authFailures.metric],
    hooks: {
      message(code, seconds) {
        const result = smtpResult(code)
        data[result].value++
        if (seconds !== undefined) timers[result].observe(seconds)
      },
      refusedAtMail(code) {
        const result = smtpResult(code)
        if (result !== 'accepted') mail[result].value++
      },
      authFailed() {
        authFailed.value++
      },
    },
  }
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

/** What the HTTP app reports (the shape src/http/plugins/metrics.ts asks for). */
export interface RequestHooks {
  observe(route: string, method: string, statusCode: number, seconds: number): void
}

/** HTTP: request durations by route pattern, method and status class. */
export function createHttpGroup(): MetricGroup<RequestHooks> {
  const duration = new Histogram({
    name: 'hikyaku_http_request_duration_seconds',
    help: 'HTTP requests from arrival to the end of the response, by route pattern, method and status class',
    labelNames: ['route', 'method', 'status_class'],
    buckets: LATENCY_BUCKETS,
    registers: [],
  })
  type Observer = { observe(value: number): void }
  // route → method → one observer per status class, each bound to its labels once.
  const routes = new Map<string, Map<string, Array<Observer | undefined>>>()
  return {
    metrics: [duration],
    hooks: {
      observe(pattern, method, statusCode, seconds) {
        const route = routes.has(pattern) || routes.size < MAX_ROUTES ? pattern : 'other'
        let methods = routes.get(route)
        if (!methods) {
          methods = new Map()
          routes.set(route, methods)
        }
        const verb = METHODS.has(method) ? method : 'other'
        let byClass = methods.get(verb)
        if (!byClass) {
          byClass = []
          methods.set(verb, byClass)
        }
        const index = Math.min(Math.max(Math.floor(statusCode / 100), 1), 5) - 1
        let observer = byClass[index]
        if (!observer) {
          observer = duration.labels(route, verb, STATUS_CLASSES[index] as string)
          byClass[index] = observer
        }
        observer.observe(seconds)
      },
    },
  }
}

export type WebhookOutcome = 'succeeded' | 'retried' | 'failed'

/** Webhook POSTs by outcome. */
export function createWebhookGroup(): MetricGroup<{ outcome(outcome: WebhookOutcome): void }> {
  const deliveries = createTally(
    'hikyaku_webhook_deliveries_total',
    'Webhook POSTs, by outcome: succeeded, retried (failed, another attempt scheduled) or failed (given up)',
    ['outcome'],
  )
  const slots: Record<WebhookOutcome, Slot> = {
    succeeded: deliveries.slot('succeeded'),
    retried: deliveries.slot('retried'),
    failed: deliveries.slot('failed'),
  }
  return {
    metrics: [deliveries.metric],
    hooks: {
      outcome(outcome) {
        slots[outcome].value++
      },
    },
  }
}

const REPORT_KINDS = ['dsn', 'arf', 'unrecognized'] as const

/** Inbound reports (bounces, complaints) stored, by kind and whether they matched a recipient. */
export function createInboundGroup(): MetricGroup<{ report(kind: string, matched: boolean): void }> {
  const reports = createTally(
    'hikyaku_inbound_reports_total',
    'Inbound reports stored, by kind (dsn, arf, unrecognized) and whether they matched a recipient',
    ['kind', 'matched'],
  )
  const slots = new Map<string, [Slot, Slot]>(REPORT_KINDS.map((k) => [k, [reports.slot(k, 'false'), reports.slot(k, 'true')]]))
  const other = slots.get('unrecognized') as [Slot, Slot]
  return {
    metrics: [reports.metric],
    hooks: {
      report(kind, matched) {
        ;(slots.get(kind) ?? other)[matched ? 1 : 0].value++
      },
    },
  }
}
