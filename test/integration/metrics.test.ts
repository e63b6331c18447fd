import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { networkInterfaces } from 'node:os'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { type MetricsEndpoint, startMetrics } from '../../src/entrypoints/metrics.js'
import { startMetricsServer } from '../../src/infra/metrics.server.js'
import { createDeliveryRepository } from '../../src/modules/delivery/delivery.repository.js'
import { loadSmtpTls } from '../../src/smtp/tls.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness, TERMINAL, workerEnv } from '../helpers/harness.js'
import { type Spawned, spawnHikyaku } from '../helpers/processes.js'
import { smtpClient } from '../helpers/smtp-client.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/reports/', import.meta.url))
const TOKEN = 'metrics-token-5f1c2a9e7b3d4c6a8e0f1b2c3d4e5f6a'

// --- A strict reader of the Prometheus text format (0.0.4) ------------------------------------------

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}
interface Exposition {
  samples: Sample[]
  types: Map<string, string>
  help: Map<string, string>
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let rest = text
  while (rest.length > 0) {
    const m = LABEL.exec(rest)
    assert.ok(m, `malformed labels in: ${line}`)
    const [whole, name = '', raw = ''] = m
    assert.ok(!(name in labels), `label ${name} twice in: ${line}`)
    labels[name] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    rest = rest.slice(whole.length)
  }
  return labels
}

/** Every line a comment (HELP or TYPE, before its samples) or `name{labels} value`; anything else fails. */
function parseExposition(text: string): Exposition {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline')
  const out: Exposition = { samples: [], types: new Map(), help: new Map() }
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line)
      assert.ok(m, `malformed comment: ${line}`)
      const [, kind, name = '', rest = ''] = m
      const into = kind === 'TYPE' ? out.types : out.help
      assert.ok(!into.has(name), `${kind} of ${name} twice`)
      if (kind === 'TYPE') assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, `type of ${name}`)
      into.set(name, rest)
      continue
    }
    const m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`).exec(line)
    assert.ok(m, `malformed sample: ${line}`)
    const [, name = '', labels = '', raw = ''] = m
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw)
    assert.ok(raw === 'NaN' || !Number.isNaN(value), `malformed value: ${line}`)
    const base = name.replace(/_(bucket|sum|count)$/, '')
    const family = out.types.has(name) ? name : base
    const type = out.types.get(family)
    assert.ok(type, `sample before its TYPE: ${line}`)
    assert.ok(family === name || type === 'histogram' || type === 'summary', `sample of another family: ${line}`)
    assert.ok(out.help.has(family), `no HELP for ${family}`)
    out.samples.push({ name, labels: parseLabels(labels, line), value })
  }
  return out
}

/** The one sample of `name` whose labels include `labels`. */
function sampleValue(exp: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = exp.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  assert.equal(found.length, 1, `one sample of ${name} ${JSON.stringify(labels)} (found ${found.length})`)
  return (found[0] as Sample).value
}

const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(10_000) })

async function scrape(port: number, headers: Record<string, string> = {}): Promise<Exposition> {
  const res = await get(port, '/metrics', headers)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return parseExposition(await res.text())
}

// --- In-process: a known run, then the counters against what the API reports -------------------------

describe('metrics of a known run (in-process worker, API, SMTP submission and inbound)', () => {
  let h: Harness
  let sink: Sink
  let endpoint: MetricsEndpoint
  let port: number
  let deferredOnce = false

  before(async () => {
    sink = await startSink({
      rcpt: (address) => {
        if (address.startsWith('bounce')) return { code: 550, message: '5.1.1 No such user' }
        // The first try of this one waits (451), the second goes.
        if (address.startsWith('later') && !deferredOnce) {
          deferredOnce = true
          return { code: 451, message: '4.2.1 Try again later' }
        }
        return undefined
      },
    })
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url }, smtp: true })
    endpoint = await startMetrics(h.container, ['api', 'worker', 'smtp', 'inbound', 'webhooks'])
    assert.ok(endpoint.listener, 'the listener started')
    port = endpoint.listener.port
  })
  after(async () => {
    await endpoint?.stop()
    await h?.close()
    await sink?.close()
  })

  it('counts every recorded outcome as GET /v1/emails/{id} shows it', async () => {
    const to = ['ok-1', 'ok-2', 'ok-3', 'bounce-1', 'bounce-2', 'later-1'].map((local) => `${local}@example.net`)
    const ids: string[] = []
    for (const address of to) {
      const res = await h.send(basicEmail({ to: address }))
      assert.equal(res.status, 202)
      ids.push(res.body.id)
    }
    const info = await smtpClient(h).sendMail({ from: 'sender@example.com', to: 'ok-smtp@example.net', subject: 'By SMTP', text: 'hi' })
    const smtpId = /queued as ([0-9a-f-]{36})/.exec(info.response)?.[1]
    assert.ok(smtpId, info.response)
    ids.push(smtpId)
    await assert.rejects(smtpClient(h, { pass: 'hk_not_a_key' }).sendMail({ from: 'a@example.com', to: 'b@example.net', text: 'x' }))

    const emails = await Promise.all(ids.map((id) => h.waitForEmail(id, (e) => TERMINAL.includes(e.status), 30_000)))
    // What the API reports: every attempt's outcome, and each bounced recipient's category.
    const expected = new Map<string, number>()
    const add = (key: string) => expected.set(key, (expected.get(key) ?? 0) + 1)
    let attempts = 0
    for (const email of emails as unknown as Array<{
      recipients: Array<{ status: string; bounce_category: string | null }>
      attempts: Array<{ outcome: string }>
    }>) {
      for (const a of email.attempts) {
        attempts++
        if (a.outcome !== 'bounced') add(`${a.outcome}|none`)
      }
      for (const r of email.recipients) if (r.status === 'bounced') add(`bounced|${r.bounce_category}`)
    }
    assert.deepEqual(Object.fromEntries(expected), { 'sent|none': 5, 'deferred|none': 1, 'bounced|hard': 2 }, 'the run went as planned')

    // The counter follows the commit by a moment: wait until it has every attempt.
    const exp = await waitFor(
      'every outcome to be counted',
      async () => {
        const e = await scrape(port)
        const total = e.samples.filter((s) => s.name === 'hikyaku_deliveries_total').reduce((n, s) => n + s.value, 0)
        return total >= attempts ? e : undefined
      },
      10_000,
      100,
    )
    for (const s of exp.samples.filter((x) => x.name === 'hikyaku_deliveries_total')) {
      const key = `${s.labels.outcome}|${s.labels.bounce_category}`
      const want = s.labels.stream === 'transactional' ? (expected.get(key) ?? 0) : 0
      assert.equal(s.value, want, `hikyaku_deliveries_total ${JSON.stringify(s.labels)}`)
    }
    assert.equal(exp.types.get('hikyaku_deliveries_total'), 'counter')
    assert.equal(sampleValue(exp, 'hikyaku_delivery_claims_total', { stream: 'transactional' }), attempts)
    assert.equal(sampleValue(exp, 'hikyaku_delivery_takeovers_total', { stream: 'transactional' }), 0)
    assert.equal(sampleValue(exp, 'hikyaku_delivery_claims_total', { stream: 'broadcast' }), 0, 'every stream shows, at 0')
    assert.ok(sampleValue(exp, 'hikyaku_sweeps_total', { result: 'ran' }) >= 1)

    // Accept latency: six POSTs, by route pattern.
    const posts = { route: '/v1/emails', method: 'POST', status_class: '2xx' }
    assert.equal(sampleValue(exp, 'hikyaku_http_request_duration_seconds_count', posts), 6)
    assert.equal(sampleValue(exp, 'hikyaku_http_request_duration_seconds_bucket', { ...posts, le: '+Inf' }), 6)
    assert.ok(sampleValue(exp, 'hikyaku_http_request_duration_seconds_sum', posts) > 0)
    const reads = exp.samples.filter((s) => s.name === 'hikyaku_http_request_duration_seconds_count' && s.labels.method === 'GET')
    assert.ok(
      reads.every((s) => s.labels.route === '/v1/emails/:id'),
      `GETs by pattern, never by URL: ${JSON.stringify(reads.map((s) => s.labels))}`,
    )

    // SMTP submission: one accepted (its latency observed), one login refused.
    assert.equal(sampleValue(exp, 'hikyaku_smtp_submissions_total', { stage: 'data', result: 'accepted' }), 1)
    assert.equal(sampleValue(exp, 'hikyaku_smtp_submission_seconds_count', { result: 'accepted' }), 1)
    assert.equal(sampleValue(exp, 'hikyaku_smtp_auth_failures_total'), 1)
  })

  it('counts inbound reports by kind, and unmatched ones apart', async () => {
    const feedback = h.container.services.feedback
    const receive = (file: string) => feedback.receive({ raw: readFileSync(`${FIXTURES}${file}`), mailFrom: '', rcptTo: [] })
    for (const file of ['postfix-5.1.1.eml', 'gmail-5.1.1.eml', 'yahoo-arf.eml', 'autoreply.eml']) await receive(file)
    const exp = await scrape(port)
    assert.equal(sampleValue(exp, 'hikyaku_inbound_reports_total', { kind: 'dsn', matched: 'false' }), 2)
    assert.equal(sampleValue(exp, 'hikyaku_inbound_reports_total', { kind: 'arf', matched: 'false' }), 1)
    assert.equal(sampleValue(exp, 'hikyaku_inbound_reports_total', { kind: 'unrecognized', matched: 'false' }), 1)
    assert.equal(sampleValue(exp, 'hikyaku_inbound_reports_total', { kind: 'dsn', matched: 'true' }), 0)
  })

  it('reads queue depth, destinations, the webhook backlog, the pool and Redis at scrape time', async () => {
    await h.request('GET', '/no-such-route')
    const exp = await scrape(port)
    for (const collector of ['postgres', 'redis', 'queues', 'destinations', 'webhooks']) {
      assert.equal(sampleValue(exp, 'hikyaku_metrics_collector_up', { collector }), 1, collector)
    }
    for (const stream of ['transactional', 'broadcast']) {
      for (const state of ['waiting', 'delayed', 'active', 'prioritized']) sampleValue(exp, 'hikyaku_queue_jobs', { stream, state })
      assert.ok(sampleValue(exp, 'hikyaku_queue_oldest_waiting_seconds', { stream }) >= 0)
    }
    assert.equal(sampleValue(exp, 'hikyaku_destination_paused', { destination: 'google' }), 0)
    assert.equal(sampleValue(exp, 'hikyaku_destination_concurrency_factor', { destination: 'google' }), 1)
    assert.equal(sampleValue(exp, 'hikyaku_webhook_backlog'), 0)
    assert.equal(sampleValue(exp, 'hikyaku_webhook_deliveries_total', { outcome: 'succeeded' }), 0)
    assert.equal(sampleValue(exp, 'hikyaku_postgres_up'), 1)
    assert.equal(sampleValue(exp, 'hikyaku_postgres_pool_max'), h.config.dbPoolSize)
    assert.ok(sampleValue(exp, 'hikyaku_postgres_pool_clients') >= 1)
    sampleValue(exp, 'hikyaku_postgres_pool_waiting')
    assert.equal(sampleValue(exp, 'hikyaku_redis_up'), 1)
    assert.ok(sampleValue(exp, 'hikyaku_redis_ping_seconds') >= 0)
    assert.equal(sampleValue(exp, 'hikyaku_process_info', { kind: 'all' }), 1)
    assert.ok(exp.types.has('process_cpu_user_seconds_total'), "prom-client's default process metrics")
    assert.equal(sampleValue(exp, 'hikyaku_http_request_duration_seconds_count', { route: 'unmatched', status_class: '4xx' }), 1)
  })

  it('answers /healthz with the process kind and its services, and nothing else', async () => {
    const res = await get(port, '/healthz')
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { status: 'ok', kind: 'all', checks: { postgres: 'ok', redis: 'ok' } })
    assert.equal((await get(port, '/other')).status, 404)
    const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', signal: AbortSignal.timeout(10_000) })
    assert.equal(post.status, 405)
  })

  it('listens on loopback by default', async () => {
    assert.equal(h.config.metricsHost, '127.0.0.1', 'METRICS_HOST unset')
    assert.equal(endpoint.listener?.host, '127.0.0.1')
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4')
    if (outside) {
      const refused = await fetch(`http://${outside.address}:${port}/healthz`, { signal: AbortSignal.timeout(5_000) }).then(
        () => false,
        () => true,
      )
      assert.ok(refused, `not reachable on ${outside.address}`)
    }
  })

  it('asks for the bearer token when METRICS_TOKEN is set (and /healthz does not)', async () => {
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      kind: 'all',
      scrape: () => h.container.metrics.scrape(),
      contentType: h.container.metrics.contentType,
      ready: h.container.checkReady,
      logger: h.container.logger,
    })
    assert.ok(server)
    try {
      const refused = await get(server.port, '/metrics')
      assert.equal(refused.status, 401)
      assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer/)
      assert.doesNotMatch(await refused.text(), /hikyaku_/)
      assert.equal((await get(server.port, '/metrics', { authorization: `Bearer ${TOKEN}x` })).status, 401)
      assert.equal((await get(server.port, '/metrics', { authorization: `Bearer ${TOKEN.slice(1)}` })).status, 401)
      assert.equal((await get(server.port, '/metrics', { authorization: `Basic ${TOKEN}` })).status, 401)
      assert.equal(sampleValue(await scrape(server.port, { authorization: `Bearer ${TOKEN}` }), 'hikyaku_postgres_up'), 1)
      assert.equal((await get(server.port, '/healthz')).status, 200)
    } finally {
      await server.close()
    }
  })
})

// --- Takeovers: the claim says which recipients it took from a lapsed lease ---------------------------

describe('the claim flags a takeover (hikyaku_delivery_takeovers_total)', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false })
  })
  after(async () => {
    await h.close()
  })

  it('only for a recipient whose lease lapsed, and counts it', async () => {
    const { body } = await h.send(basicEmail({ to: 'taken@example.net' }))
    const pool = h.container.pool
    const { rows } = await pool.query<{ delivery_id: string }>('SELECT delivery_id FROM recipients WHERE email_id = $1', [body.id])
    const deliveryId = rows[0]?.delivery_id as string
    const repository = createDeliveryRepository(pool, { leaseMs: 60_000 })
    const first = await repository.claim([{ deliveryId, attempt: 1 }])
    assert.deepEqual(
      first.recipients.map((r) => r.takenOver),
      [false],
    )
    // Its worker died: the lease runs out, and the next claim takes the recipient over.
    await pool.query(`UPDATE recipients SET lease_until = now() - interval '1 second' WHERE email_id = $1`, [body.id])
    const second = await repository.claim([{ deliveryId, attempt: 2 }])
    assert.deepEqual(
      second.recipients.map((r) => r.takenOver),
      [true],
    )
    h.container.metrics.delivery.claimed('transactional', [...first.recipients, ...second.recipients])
    h.container.metrics.expose('worker', ['worker'])
    const exp = parseExposition(await h.container.metrics.scrape())
    assert.equal(sampleValue(exp, 'hikyaku_delivery_claims_total', { stream: 'transactional' }), 2)
    assert.equal(sampleValue(exp, 'hikyaku_delivery_takeovers_total', { stream: 'transactional' }), 1)
  })
})

// --- The listener itself: a service down, a port taken ----------------------------------------------

describe('the metrics listener', () => {
  const lines: string[] = []
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    }),
  )
  const base = { host: '127.0.0.1', kind: 'worker', scrape: async () => '', contentType: 'text/plain', logger }

  it('answers 503 naming what is down', async () => {
    const server = await startMetricsServer({ ...base, port: 0, ready: async () => ({ postgres: 'ok', redis: 'down' }) })
    assert.ok(server)
    try {
      const res = await get(server.port, '/healthz')
      assert.equal(res.status, 503)
      assert.deepEqual(await res.json(), { status: 'unavailable', kind: 'worker', checks: { postgres: 'ok', redis: 'down' } })
    } finally {
      await server.close()
    }
  })

  it('logs a taken port as an error and lets the process run on', async () => {
    const taken: Server = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()))
    try {
      const port = (taken.address() as { port: number }).port
      const server = await startMetricsServer({ ...base, port, ready: async () => ({}) })
      assert.equal(server, undefined)
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.code === 'EADDRINUSE')
      assert.equal(logged?.level, 50, 'logged at error level')
      assert.equal(logged?.port, port)
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  })
})

// --- Spawned processes: each kind answers its own probes ------------------------------------------------

describe('a worker, an SMTP and an `all` process answer /healthz and /metrics', () => {
  let h: Harness
  const running: Spawned[] = []

  before(async () => {
    h = await startHarness({ worker: false })
    // The development certificate made once, before processes that would each make it at once.
    await loadSmtpTls(h.config)
  })
  after(async () => {
    for (const run of running) {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill('SIGKILL')
        await run.exited
      }
    }
    await h.close()
  })

  /** The port a process logged for its listener (METRICS_PORT=0), and how many listeners it logged. */
  const listening = (run: Spawned) => {
    const found = run
      .output()
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as { msg?: string; port?: number; host?: string }]
        } catch {
          return []
        }
      })
      .filter((l) => l.msg === 'metrics and health listening')
    return found[0] ? { port: found[0].port as number, host: found[0].host, count: found.length } : undefined
  }

  it('each on its own loopback port, with its own kind', async () => {
    const env = workerEnv(h, {
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: '0',
      SMTPS_PORT: '0',
      INBOUND_HOST: '127.0.0.1',
      INBOUND_PORT: '0',
      SMTP_RELAY_URL: 'smtp://127.0.0.1:9',
    })
    const kinds = ['worker', 'smtp', 'all'] as const
    const runs = kinds.map((kind) => spawnHikyaku([kind], env))
    running.push(...runs)
    const found = await Promise.all(
      runs.map((run, i) => waitFor(`the ${kinds[i]} process's listener`, () => listening(run), 60_000, 200)),
    ).catch((err) => assert.fail(`${err}\n${runs.map((r) => r.output()).join('\n---\n')}`))

    for (const [i, kind] of kinds.entries()) {
      const { port, host, count } = found[i] as { port: number; host: string; count: number }
      assert.equal(host, '127.0.0.1')
      const res = await get(port, '/healthz')
      assert.equal(res.status, 200, kind)
      assert.deepEqual(await res.json(), { status: 'ok', kind, checks: { postgres: 'ok', redis: 'ok' } })
      const exp = await scrape(port)
      assert.equal(sampleValue(exp, 'hikyaku_process_info', { kind }), 1)
      assert.equal(sampleValue(exp, 'hikyaku_postgres_up'), 1)
      const families = (names: string[]) => names.filter((n) => exp.types.has(n))
      const roleFamilies = [
        'hikyaku_deliveries_total',
        'hikyaku_smtp_submissions_total',
        'hikyaku_http_request_duration_seconds',
        'hikyaku_inbound_reports_total',
        'hikyaku_webhook_deliveries_total',
      ]
      if (kind === 'worker') assert.deepEqual(families(roleFamilies), ['hikyaku_deliveries_total'])
      if (kind === 'smtp') assert.deepEqual(families(roleFamilies), ['hikyaku_smtp_submissions_total'])
      if (kind === 'all') {
        assert.equal(count, 1, '`all` runs one listener for every role')
        assert.deepEqual(families(roleFamilies), roleFamilies)
      }
    }

    for (const run of runs) run.child.kill('SIGTERM')
    const codes = await Promise.all(
      runs.map((run) => Promise.race([run.exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))])),
    )
    assert.deepEqual(codes, [0, 0, 0], runs.map((r) => r.output()).join('\n---\n'))
  })
})
