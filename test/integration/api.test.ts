import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import pg from 'pg'
import { pino } from 'pino'
import { buildApp } from '../../src/entrypoints/api.js'
import { bodyLimitFor } from '../../src/http/app.js'
import { keyShare } from '../../src/http/plugins/body-budget.js'
import { INTERNAL_MESSAGE, registerErrorHandler } from '../../src/http/plugins/error-handler.js'
import { AppError } from '../../src/lib/errors.js'
import { IDEMPOTENCY_LOCK_SQL } from '../../src/modules/emails/email.repository.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness } from '../helpers/harness.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

/**
 * The HTTP API beyond validation (see the API reference): idempotency, rate limits, list filters and
 * pagination, scheduled sends and cancellation, and the operations endpoints.
 */

/** What `h.send` answers: status, parsed body and headers. */
type Reply = Awaited<ReturnType<Harness['send']>>
type Summary = { id: string; status: string; created_at: string; to: string[]; tags: Record<string, string> }
type Event = { id: string; type: string; email_id: string; recipient: string | null }

/** The error envelope every error shares, with the request id echoed in `x-request-id`. */
function assertError(res: Reply, status: number, code: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`)
  assert.equal(res.body.error?.code, code)
  assert.equal(typeof res.body.error.message, 'string')
  assert.ok(res.body.error.message.length > 0, 'the error has a message')
  assert.equal(typeof res.body.request_id, 'string')
  assert.equal(res.headers['x-request-id'], res.body.request_id)
}

const call = (
  h: Harness,
  method: 'GET' | 'POST',
  url: string,
  headers: Record<string, string> = h.auth,
  payload?: object,
): Promise<Reply> => h.request(method, url, { headers, payload })

/** GET /v1/emails with a query string; asserts 200 and returns the page. */
async function listEmails(h: Harness, query: Record<string, string | number>, auth = h.auth) {
  const qs = new URLSearchParams(Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])))
  const res = await call(h, 'GET', `/v1/emails?${qs}`, auth)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body as { data: Summary[]; next_cursor: string | null }
}

/** Follows next_cursor from the first page to the last; returns every page's items. */
async function walkPages<T>(fetchPage: (cursor: string | undefined) => Promise<{ data: T[]; next_cursor: string | null }>) {
  const pages: T[][] = []
  let cursor: string | undefined
  for (let i = 0; i < 50; i++) {
    const page = await fetchPage(cursor)
    pages.push(page.data)
    if (page.next_cursor === null) return pages
    cursor = page.next_cursor
  }
  throw new Error('pagination did not end after 50 pages')
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const ids = (items: Array<{ id: string }>) => items.map((i) => i.id)

describe('Idempotency-Key', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false })
  })
  after(async () => {
    await h.close()
  })

  it('same key and same body → the original 202 replayed, one email stored', async () => {
    const body = basicEmail({ to: 'idem-same@example.net', tags: { order: 'A1' } })
    const first = await h.send(body, { 'idempotency-key': 'order-A1' })
    assert.equal(first.status, 202, JSON.stringify(first.body))
    assert.equal(first.headers['idempotent-replayed'], undefined)

    const again = await h.send(body, { 'idempotency-key': 'order-A1' })
    assert.equal(again.status, 202, JSON.stringify(again.body))
    assert.deepEqual(again.body, first.body)
    assert.equal(again.headers['idempotent-replayed'], 'true')

    // Key order in the JSON does not change the request.
    const reordered = Object.fromEntries(Object.entries(body).reverse())
    const third = await h.send(reordered, { 'idempotency-key': 'order-A1' })
    assert.equal(third.status, 202)
    assert.equal(third.body.id, first.body.id)

    const stored = await listEmails(h, { recipient: 'idem-same@example.net' })
    assert.deepEqual(ids(stored.data), [first.body.id])
  })

  it('same key with a different body → 422 idempotency_mismatch, nothing stored', async () => {
    const first = await h.send(basicEmail({ to: 'idem-diff@example.net' }), { 'idempotency-key': 'order-B2' })
    assert.equal(first.status, 202)
    const other = await h.send(basicEmail({ to: 'idem-diff-2@example.net' }), { 'idempotency-key': 'order-B2' })
    assertError(other, 422, 'idempotency_mismatch')
    assert.deepEqual((await listEmails(h, { recipient: 'idem-diff-2@example.net' })).data, [])
    assert.deepEqual(ids((await listEmails(h, { recipient: 'idem-diff@example.net' })).data), [first.body.id])
  })

  it('same key while the first request is still in flight → 409 idempotency_in_progress', async () => {
    const key = 'order-C3'
    const body = basicEmail({ to: 'idem-inflight@example.net' })
    const client = new pg.Client({ connectionString: h.config.databaseUrl })
    await client.connect()
    try {
      // Hold the lock the in-flight request would hold, in an open transaction.
      await client.query('BEGIN')
      const { rows } = await client.query(`SELECT ${IDEMPOTENCY_LOCK_SQL} AS locked`, [h.accountId, key])
      assert.equal(rows[0]?.locked, true)

      assertError(await h.send(body, { 'idempotency-key': key }), 409, 'idempotency_in_progress')

      await client.query('ROLLBACK')
      const retried = await h.send(body, { 'idempotency-key': key })
      assert.equal(retried.status, 202, JSON.stringify(retried.body))
      assert.equal(retried.headers['idempotent-replayed'], undefined, 'the 409 stored nothing to replay')
      assert.deepEqual(ids((await listEmails(h, { recipient: 'idem-inflight@example.net' })).data), [retried.body.id])
    } finally {
      await client.end()
    }
  })

  it('idempotency keys are per account', async () => {
    const key = 'order-D4'
    const body = basicEmail({ to: 'idem-tenant@example.net' })
    const mine = await h.send(body, { 'idempotency-key': key })
    assert.equal(mine.status, 202)

    const other = await h.container.services.accounts.create('Other')
    const theirAuth = { authorization: `Bearer ${other.key}` }
    const theirs = await call(h, 'POST', '/v1/emails', { ...theirAuth, 'idempotency-key': key }, body)
    assert.equal(theirs.status, 202, JSON.stringify(theirs.body))
    assert.notEqual(theirs.body.id, mine.body.id)
    assert.equal(theirs.headers['idempotent-replayed'], undefined)
    // A different body under the same key is fine in the other account…
    const theirsDifferent = await call(h, 'POST', '/v1/emails', { ...theirAuth, 'idempotency-key': 'order-E5' }, basicEmail())
    assert.equal(theirsDifferent.status, 202)
    const mineE5 = await h.send(basicEmail({ to: 'idem-e5@example.net' }), { 'idempotency-key': 'order-E5' })
    assert.equal(mineE5.status, 202, JSON.stringify(mineE5.body))
    assert.equal(mineE5.headers['idempotent-replayed'], undefined)

    // …and our own replay still answers our id.
    const replay = await h.send(body, { 'idempotency-key': key })
    assert.equal(replay.body.id, mine.body.id)
    assert.equal(replay.headers['idempotent-replayed'], 'true')
  })
})

describe('rate limits (RATE_LIMIT_MAX=3 per 1m)', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false, env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1m' } })
  })
  after(async () => {
    await h.close()
  })

  const newKey = async () => {
    const { key } = await h.container.services.apiKeys.create({ accountId: h.accountId, scope: 'full' })
    return { authorization: `Bearer ${key}` }
  }

  it('the 4th request of one key in the window → 429 rate_limited with Retry-After and RateLimit-* headers', async () => {
    const auth = await newKey()
    const remaining: unknown[] = []
    for (let i = 0; i < 3; i++) {
      const res = await call(h, 'GET', '/v1/emails', auth)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.headers['ratelimit-limit'], '3')
      remaining.push(res.headers['ratelimit-remaining'])
    }
    assert.deepEqual(remaining, ['2', '1', '0'])

    const limited = await call(h, 'POST', '/v1/emails', auth, basicEmail())
    assertError(limited, 429, 'rate_limited')
    const retryAfter = Number(limited.headers['retry-after'])
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `retry-after ${limited.headers['retry-after']}`)
    assert.equal(limited.headers['ratelimit-limit'], '3')
    assert.equal(limited.headers['ratelimit-remaining'], '0')
    const reset = Number(limited.headers['ratelimit-reset'])
    assert.ok(Number.isFinite(reset) && reset > 0 && reset <= 60, `ratelimit-reset ${limited.headers['ratelimit-reset']}`)
  })

  it('another key of the same account is counted separately', async () => {
    const first = await newKey()
    const second = await newKey()
    for (let i = 0; i < 3; i++) assert.equal((await call(h, 'GET', '/v1/emails', first)).status, 200)
    assertError(await call(h, 'GET', '/v1/emails', first), 429, 'rate_limited')

    const other = await call(h, 'GET', '/v1/emails', second)
    assert.equal(other.status, 200, JSON.stringify(other.body))
    assert.equal(other.headers['ratelimit-remaining'], '2')
    assertError(await call(h, 'GET', '/v1/emails', first), 429, 'rate_limited')
  })
})

describe('GET /v1/emails filters and pagination', () => {
  let h: Harness
  /** The emails this suite creates, by name, in creation order. */
  const emails: Record<string, Summary> = {}
  const order: string[] = []
  const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString()

  before(async () => {
    h = await startHarness({ worker: false })
    const create = async (name: string, body: Record<string, unknown>) => {
      const res = await h.send(basicEmail(body))
      assert.equal(res.status, 202, JSON.stringify(res.body))
      const [summary] = (await listEmails(h, { limit: 1 })).data
      assert.equal(summary?.id, res.body.id)
      emails[name] = summary as Summary
      order.push(name)
      // created_at is shown to the millisecond: keep consecutive emails in distinct milliseconds.
      await sleep(5)
    }
    await create('alice1', { to: 'alice@example.net', tags: { campaign: 'spring' } })
    await create('bob', { to: 'bob@example.net', tags: { campaign: 'autumn' } })
    await create('alice2', { to: 'alice@example.net', cc: 'Carol <carol@example.net>', tags: { campaign: 'spring', tier: 'gold' } })
    await create('scheduled', { to: 'dave@example.net', scheduled_at: inAnHour() })
    await create('cancelled', { to: 'erin@example.net', scheduled_at: inAnHour() })
    await create('plain1', { to: 'frank@example.net' })
    await create('plain2', { to: 'grace@example.net' })
    const cancel = await call(h, 'POST', `/v1/emails/${emails.cancelled?.id}/cancel`)
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body))
  })
  after(async () => {
    await h.close()
  })

  /** Ids of the named emails, newest first (the list's order). */
  const expected = (...names: string[]) =>
    names
      .sort((a, b) => order.indexOf(b) - order.indexOf(a))
      .map((n) => {
        const email = emails[n]
        assert.ok(email, n)
        return email.id
      })

  it('?status= filters on the message status', async () => {
    assert.deepEqual(ids((await listEmails(h, { status: 'scheduled' })).data), expected('scheduled'))
    assert.deepEqual(ids((await listEmails(h, { status: 'cancelled' })).data), expected('cancelled'))
    assert.deepEqual(ids((await listEmails(h, { status: 'queued' })).data), expected('alice1', 'bob', 'alice2', 'plain1', 'plain2'))
    assert.deepEqual((await listEmails(h, { status: 'sent' })).data, [])
    for (const email of (await listEmails(h, { status: 'queued' })).data) assert.equal(email.status, 'queued')
  })

  it('?recipient= matches any recipient (to or cc), domain case-insensitively', async () => {
    assert.deepEqual(ids((await listEmails(h, { recipient: 'alice@example.net' })).data), expected('alice1', 'alice2'))
    assert.deepEqual(ids((await listEmails(h, { recipient: 'carol@example.net' })).data), expected('alice2'))
    assert.deepEqual(ids((await listEmails(h, { recipient: 'bob@EXAMPLE.NET' })).data), expected('bob'))
    assert.deepEqual((await listEmails(h, { recipient: 'nobody@example.net' })).data, [])
  })

  it('?tag=name:value filters on a tag', async () => {
    assert.deepEqual(ids((await listEmails(h, { tag: 'campaign:spring' })).data), expected('alice1', 'alice2'))
    assert.deepEqual(ids((await listEmails(h, { tag: 'tier:gold' })).data), expected('alice2'))
    assert.deepEqual(ids((await listEmails(h, { tag: 'campaign:winter' })).data), [])
    const spring = (await listEmails(h, { tag: 'campaign:spring' })).data
    for (const email of spring) assert.equal(email.tags.campaign, 'spring')
  })

  it('?created_after= (inclusive) and ?created_before= (exclusive) bound the creation time', async () => {
    const pivot = emails.alice2?.created_at as string
    assert.deepEqual(
      ids((await listEmails(h, { created_after: pivot })).data),
      expected('alice2', 'scheduled', 'cancelled', 'plain1', 'plain2'),
    )
    assert.deepEqual(ids((await listEmails(h, { created_before: pivot })).data), expected('alice1', 'bob'))
    const window = { created_after: emails.bob?.created_at as string, created_before: emails.cancelled?.created_at as string }
    assert.deepEqual(ids((await listEmails(h, window)).data), expected('bob', 'alice2', 'scheduled'))
    // Combined with another filter.
    assert.deepEqual(ids((await listEmails(h, { ...window, tag: 'campaign:spring' })).data), expected('alice2'))
  })

  it('limit + cursor walk every email once, newest first', async () => {
    const pages = await walkPages((cursor) => listEmails(h, cursor ? { limit: 3, cursor } : { limit: 3 }))
    assert.deepEqual(
      pages.map((p) => p.length),
      [3, 3, 1],
    )
    const all = pages.flat()
    assert.equal(new Set(ids(all)).size, all.length, 'no email appears twice')
    assert.deepEqual(ids(all), expected(...order))
    for (let i = 1; i < all.length; i++) {
      assert.ok((all[i - 1] as Summary).created_at >= (all[i] as Summary).created_at, 'newest first')
    }
    // Pagination keeps the filter.
    const spring = await walkPages((cursor) =>
      listEmails(h, cursor ? { tag: 'campaign:spring', limit: 1, cursor } : { tag: 'campaign:spring', limit: 1 }),
    )
    assert.deepEqual(ids(spring.flat()), expected('alice1', 'alice2'))
  })

  it('invalid filters → 422 naming the query parameter, all with the same path prefix', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ status: 'lost' }, 'status'],
      [{ tag: 'campaign' }, 'tag'],
      [{ created_after: 'yesterday' }, 'created_after'],
      [{ limit: '101' }, 'limit'],
      [{ limit: '0' }, 'limit'],
      [{ cursor: 'bm90LWEtY3Vyc29y' }, 'cursor'],
      [{ recipient: 'not-an-address' }, 'recipient'],
    ]
    const paths: string[] = []
    for (const [query, param] of cases) {
      const res = await call(h, 'GET', `/v1/emails?${new URLSearchParams(query)}`)
      assertError(res, 422, 'validation_failed')
      const details = res.body.error.details as Array<{ path: string }>
      assert.equal(details.length, 1, JSON.stringify(details))
      const path = details[0]?.path as string
      assert.ok(path.endsWith(`/${param}`), `${JSON.stringify(query)} → ${path}`)
      paths.push(path)
    }
    // One convention for every query parameter, whichever layer found the problem.
    const prefixes = new Set(paths.map((p) => p.slice(0, p.lastIndexOf('/'))))
    assert.equal(prefixes.size, 1, `query errors use several path prefixes: ${JSON.stringify(paths)}`)
  })

  it('GET /v1/emails/{id}/events pages oldest first, every event once', async () => {
    const to = ['ev1@example.net', 'ev2@example.net', 'ev3@example.net']
    const res = await h.send(basicEmail({ to, cc: 'ev4@example.net', bcc: 'ev5@example.net' }))
    assert.equal(res.status, 202)
    const id = res.body.id as string
    const eventsPage = async (cursor: string | undefined) => {
      const page = await call(h, 'GET', `/v1/emails/${id}/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      assert.equal(page.status, 200, JSON.stringify(page.body))
      return page.body as { data: Event[]; next_cursor: string | null }
    }
    const pages = await walkPages(eventsPage)
    assert.deepEqual(
      pages.map((p) => p.length),
      [2, 2, 1],
    )
    const all = pages.flat()
    assert.equal(new Set(ids(all)).size, 5, 'no event appears twice')
    assert.deepEqual(ids(all), ids(all).slice().sort(), 'oldest first (ids are time-ordered)')
    assert.deepEqual(all.map((e) => e.recipient).sort(), [
      'ev1@example.net',
      'ev2@example.net',
      'ev3@example.net',
      'ev4@example.net',
      'ev5@example.net',
    ])
    for (const event of all) assert.deepEqual([event.type, event.email_id], ['email.queued', id])

    const whole = await call(h, 'GET', `/v1/emails/${id}/events?limit=100`)
    assert.deepEqual(ids(whole.body.data), ids(all))
    assert.equal(whole.body.next_cursor, null)
  })

  it('GET /v1/emails/{id} shows the latest 20 attempts of each recipient, with attempts_total counting them all', async () => {
    const res = await h.send(basicEmail({ to: ['many@example.net', 'few@example.net', 'none@example.net'] }))
    assert.equal(res.status, 202)
    const id = res.body.id as string
    const db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
    try {
      // Attempt history written directly: 25 for one recipient, 3 for another, none for the third.
      await db.query(
        `INSERT INTO delivery_attempts (id, recipient_id, email_id, number, started_at, finished_at, outcome, smtp_code)
         SELECT gen_random_uuid(), r.id, r.email_id, n, now() - (100 - n) * interval '1 minute', now() - (100 - n) * interval '1 minute', 'deferred', 451
           FROM recipients r CROSS JOIN generate_series(1, CASE r.address WHEN 'many@example.net' THEN 25 ELSE 3 END) AS n
          WHERE r.email_id = $1 AND r.address <> 'none@example.net'`,
        [id],
      )
    } finally {
      await db.end()
    }
    const email = await h.getEmail(id)
    const recipients = email.recipients as Array<{ address: string; attempts_total: number }>
    assert.deepEqual(Object.fromEntries(recipients.map((r) => [r.address, r.attempts_total])), {
      'many@example.net': 25,
      'few@example.net': 3,
      'none@example.net': 0,
    })
    const attempts = email.attempts as Array<{ recipient: string; number: number }>
    const numbers = (address: string) => attempts.filter((a) => a.recipient === address).map((a) => a.number)
    assert.deepEqual(
      numbers('many@example.net'),
      Array.from({ length: 20 }, (_, i) => i + 6),
      'the latest 20, oldest first',
    )
    assert.deepEqual(numbers('few@example.net'), [1, 2, 3])
    assert.deepEqual(numbers('none@example.net'), [])
  })
})

describe('scheduled sends and cancellation', () => {
  let sink: Sink
  let h: Harness

  before(async () => {
    sink = await startSink()
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url } })
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  const receivedBy = (address: string) => sink.received.filter((m) => m.to.includes(address))

  it('scheduled_at 2 s ahead → scheduled, nothing sent before the time, sent after', async () => {
    const at = new Date(Date.now() + 2_000)
    const res = await h.send(basicEmail({ to: 'later@example.net', scheduled_at: at.toISOString() }))
    assert.equal(res.status, 202, JSON.stringify(res.body))
    assert.equal(res.body.status, 'scheduled')

    const email = await h.getEmail(res.body.id)
    assert.equal(email.status, 'scheduled')
    assert.equal(email.scheduled_at, at.toISOString())
    const [recipient] = email.recipients as Array<{ status: string; next_attempt_at: string | null }>
    assert.equal(recipient?.status, 'scheduled')
    assert.equal(recipient?.next_attempt_at, at.toISOString())
    assert.deepEqual(
      (email.events as Event[]).map((e) => e.type),
      ['email.scheduled'],
    )

    await sleep(Math.max(0, at.getTime() - 300 - Date.now()))
    assert.equal(receivedBy('later@example.net').length, 0, 'nothing reaches the relay before scheduled_at')
    assert.equal((await h.getEmail(res.body.id)).status, 'scheduled')

    const sent = await h.waitForEmail(res.body.id, (e) => e.status === 'sent', 10_000)
    assert.equal(receivedBy('later@example.net').length, 1)
    const [attempt] = sent.attempts as Array<{ started_at: string }>
    assert.ok(attempt && Date.parse(attempt.started_at) >= at.getTime(), `attempt at ${attempt?.started_at}, scheduled ${at.toISOString()}`)
    const types = (sent.events as Event[]).map((e) => e.type)
    assert.deepEqual([types[0], types.at(-1)], ['email.scheduled', 'email.sent'])

    // Nothing is left to cancel once it is sent.
    assertError(await call(h, 'POST', `/v1/emails/${res.body.id}/cancel`), 409, 'conflict')
  })

  it('cancel a message scheduled 1 h ahead → 200 cancelled, an email.cancelled event, nothing sent; again → 409', async () => {
    const res = await h.send(basicEmail({ to: 'cancel-me@example.net', scheduled_at: new Date(Date.now() + 3_600_000).toISOString() }))
    assert.equal(res.status, 202)
    const id = res.body.id as string

    const cancelled = await call(h, 'POST', `/v1/emails/${id}/cancel`)
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body))
    assert.deepEqual(cancelled.body, { id, status: 'cancelled', cancelled: 1 })

    const email = await h.getEmail(id)
    assert.equal(email.status, 'cancelled')
    const [recipient] = email.recipients as Array<{ status: string; next_attempt_at: string | null }>
    assert.deepEqual([recipient?.status, recipient?.next_attempt_at], ['cancelled', null])
    const events = (await call(h, 'GET', `/v1/emails/${id}/events`)).body.data as Event[]
    assert.deepEqual(
      events.map((e) => [e.type, e.recipient]),
      [
        ['email.scheduled', 'cancel-me@example.net'],
        ['email.cancelled', 'cancel-me@example.net'],
      ],
    )

    await sleep(1_000)
    assert.equal(receivedBy('cancel-me@example.net').length, 0)
    assertError(await call(h, 'POST', `/v1/emails/${id}/cancel`), 409, 'conflict')
    assert.equal((await h.getEmail(id)).status, 'cancelled')
  })

  it('a cancelled message is not sent when its scheduled time comes', async () => {
    const at = new Date(Date.now() + 1_000)
    const res = await h.send(basicEmail({ to: 'cancel-soon@example.net', scheduled_at: at.toISOString() }))
    assert.equal((await call(h, 'POST', `/v1/emails/${res.body.id}/cancel`)).status, 200)

    // Past the time plus a few sweeps: the delayed job fires and must find nothing to send.
    await sleep(Math.max(0, at.getTime() + 2_000 - Date.now()))
    assert.equal(receivedBy('cancel-soon@example.net').length, 0)
    const email = await h.getEmail(res.body.id)
    assert.equal(email.status, 'cancelled')
    assert.deepEqual(email.attempts, [])
  })
})

describe('operations endpoints', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false })
  })
  after(async () => {
    await h.close()
  })

  it('/healthz → 200 without authentication', async () => {
    const res = await call(h, 'GET', '/healthz', {})
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { status: 'ok' })
  })

  it('/readyz → 200 with the Postgres and Redis checks', async () => {
    const res = await call(h, 'GET', '/readyz', {})
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { status: 'ok', checks: { postgres: 'ok', redis: 'ok' } })
  })

  it('/openapi.json is an OpenAPI 3.1.0 document with the v1 routes', async () => {
    const res = await call(h, 'GET', '/openapi.json', {})
    assert.equal(res.status, 200)
    assert.match(String(res.headers['content-type']), /application\/json/)
    assert.equal(res.body.openapi, '3.1.0')
    for (const path of ['/v1/emails', '/v1/emails/{id}', '/v1/emails/{id}/cancel', '/v1/api-keys']) {
      assert.ok(path in res.body.paths, `documents ${path}`)
    }
  })

  it('/docs answers 200 with an HTML page (following redirects)', async () => {
    let url = '/docs'
    let page = await h.app.inject({ method: 'GET', url })
    for (let hop = 0; hop < 5 && page.statusCode >= 300 && page.statusCode < 400; hop++) {
      url = new URL(String(page.headers.location), `http://localhost${url}`).pathname
      page = await h.app.inject({ method: 'GET', url })
    }
    assert.equal(page.statusCode, 200)
    assert.match(String(page.headers['content-type']), /text\/html/)
    assert.match(page.body, /swagger|openapi/i)
  })
})

describe('admission control (ADMISSION_MAX_BACKLOG=2, no worker)', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false, env: { ADMISSION_MAX_BACKLOG: '2' } })
  })
  after(async () => {
    await h.close()
  })

  it('answers 503 unavailable with Retry-After once the waiting backlog passes the depth', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await h.send(basicEmail())).status, 202)
    // The depth is read from the queue at most every 250 ms per process.
    const refused = await waitFor('a 503', async () => {
      const res = await h.send(basicEmail())
      return res.status === 503 ? res : undefined
    })
    assert.equal(refused.body.error.code, 'unavailable')
    assert.ok(Number(refused.headers['retry-after']) > 0)
    assert.match(refused.body.error.message, /busy/)
    assert.doesNotMatch(refused.body.error.message, /\d/, 'the depth of the backlog is not told to unauthenticated callers')
  })

  it('refuses before authenticating, so a refusal costs no key lookup', async () => {
    const res = await h.send(basicEmail(), { authorization: 'Bearer nonsense' })
    assert.equal(res.status, 503)
  })

  it('still serves reads while refusing sends', async () => {
    assert.equal((await h.request('GET', '/v1/emails')).status, 200)
  })
})

describe('internal errors', () => {
  it("an AppError('internal') is logged in full and answered with the generic message", async () => {
    const lines: string[] = []
    const app = Fastify({
      loggerInstance: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) as FastifyBaseLogger,
    })
    registerErrorHandler(app)
    app.get('/boom', async () => {
      throw new AppError('internal', 'Cannot decrypt the DKIM key of secret.example: was HIKYAKU_SECRET changed?', {
        cause: new Error('unsupported state or unable to authenticate data'),
      })
    })
    const res = await app.inject({ method: 'GET', url: '/boom' })
    await app.close()
    assert.equal(res.statusCode, 500)
    assert.deepEqual(res.json().error, { code: 'internal', message: INTERNAL_MESSAGE })
    const logged = lines.join('\n')
    assert.match(logged, /secret\.example/, 'operators see the message')
    assert.match(logged, /unable to authenticate data/, 'and its cause')
  })
})

describe('HTTP body budget (HTTP_BODY_BUDGET=1 MiB, no worker, a real port)', () => {
  const BUDGET = 1024 * 1024
  let h: Harness
  let port: number

  before(async () => {
    h = await startHarness({ worker: false, env: { HTTP_BODY_BUDGET: String(BUDGET) } })
    await h.app.listen({ host: '127.0.0.1', port: 0 })
    port = (h.app.server.address() as AddressInfo).port
  })
  after(async () => {
    await h.close()
  })

  /** A send whose JSON body is about `bytes` long. */
  const bigSend = (bytes: number) => Buffer.from(JSON.stringify(basicEmail({ text: 'x'.repeat(bytes) })))

  /** A POST /v1/emails over a socket, its body written by the test when it chooses. */
  function post(headers: Record<string, string | number> = {}) {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/emails',
      headers: { ...h.auth, 'content-type': 'application/json', ...headers },
    })
    const response = new Promise<{ status: number; body: { error?: { code: string } }; retryAfter: number }>((resolve, reject) => {
      req.once('error', reject)
      req.once('response', (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.once('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString()),
            retryAfter: Number(res.headers['retry-after']),
          }),
        )
      })
    })
    return { req, response }
  }

  const budgetFree = () =>
    waitFor('the budget to be free', () => (h.app.bodyBudget.used === 0 && h.app.bodyBudget.holders === 0 ? true : undefined))

  it('a body that would pass the budget while another is in flight gets 503 before it is read; both leave the budget free', async () => {
    const first = bigSend(700_000)
    const inFlight = post({ 'content-length': first.length })
    inFlight.req.write(first.subarray(0, 1000))
    await waitFor('the first body to be reserved', () => (h.app.bodyBudget.used === first.length ? true : undefined))

    const second = bigSend(700_000)
    const refused = post({ 'content-length': second.length })
    refused.req.end(second)
    const answer = await refused.response
    assert.equal(answer.status, 503)
    assert.equal(answer.body.error?.code, 'unavailable')
    assert.ok(answer.retryAfter >= 1 && answer.retryAfter <= 3, `Retry-After 1-3 s, got ${answer.retryAfter}`)
    assert.equal(h.app.bodyBudget.used, first.length, 'the refused request held nothing')

    inFlight.req.end(first.subarray(1000))
    assert.equal((await inFlight.response).status, 202)
    await budgetFree()
    const again = post({ 'content-length': second.length })
    again.req.end(second)
    assert.equal((await again.response).status, 202, 'once the first is done, the second fits')
    await budgetFree()
  })

  it('a client that goes away mid-body gives its reservation back', async () => {
    const body = bigSend(500_000)
    const abandoned = post({ 'content-length': body.length })
    abandoned.response.catch(() => {})
    abandoned.req.write(body.subarray(0, 1000))
    await waitFor('the body to be reserved', () => (h.app.bodyBudget.used === body.length ? true : undefined))
    abandoned.req.destroy()
    await budgetFree()
  })

  it('a chunked body (no length) reserves the body limit; alone, one larger than the whole budget still goes', async () => {
    const body = bigSend(1_500_000)
    const chunked = post({ 'transfer-encoding': 'chunked' })
    chunked.req.write(body.subarray(0, 1000))
    await waitFor('the body limit to be reserved', () => (h.app.bodyBudget.used > BUDGET ? true : undefined))
    assert.equal(h.app.bodyBudget.used, bodyLimitFor(h.config.maxMessageBytes))
    const small = post()
    small.req.end(JSON.stringify(basicEmail()))
    assert.equal((await small.response).status, 503, 'nothing else fits beside it')
    chunked.req.end(body.subarray(1000))
    assert.equal((await chunked.response).status, 202)
    await budgetFree()
  })

  it('requests without a body, and callers without a valid key, reserve nothing', async () => {
    assert.equal((await h.request('GET', '/v1/emails')).status, 200)
    const anonymous = post({ authorization: 'Bearer nonsense' })
    anonymous.req.end(bigSend(10_000))
    assert.equal((await anonymous.response).status, 401)
    await budgetFree()
  })
})

describe("HTTP body budget: one key's share and the request timeout (1 MiB budget, 100 kB messages, a real port)", () => {
  const BUDGET = 1024 * 1024
  const DECLARED = 200_000
  let h: Harness
  let otherAuth: Record<string, string>
  /** An app on the harness's services whose requests must arrive within 1 s. */
  let quick: FastifyInstance
  let port: number
  let quickPort: number

  before(async () => {
    h = await startHarness({ worker: false, env: { HTTP_BODY_BUDGET: String(BUDGET), MAX_MESSAGE_BYTES: '100000' } })
    await h.app.listen({ host: '127.0.0.1', port: 0 })
    port = (h.app.server.address() as AddressInfo).port
    quick = await buildApp(h.container, { requestTimeoutMs: 1_000 })
    await quick.listen({ host: '127.0.0.1', port: 0 })
    quickPort = (quick.server.address() as AddressInfo).port
    otherAuth = { authorization: `Bearer ${(await h.container.services.accounts.create('Other sender')).key}` }
  })
  after(async () => {
    await quick.close()
    await h.close()
  })

  type Answer = { status: number; body: { error?: { code: string; message: string } }; retryAfter: number }

  /** A POST /v1/emails whose body the test writes when it chooses; `answer` is the reply, or the error that ended it. */
  function post(toPort: number, auth: Record<string, string>, headers: Record<string, string | number> = {}) {
    const req = httpRequest({
      host: '127.0.0.1',
      port: toPort,
      method: 'POST',
      path: '/v1/emails',
      headers: { ...auth, 'content-type': 'application/json', ...headers },
    })
    const answer = new Promise<Answer | Error>((resolve) => {
      req.once('error', resolve)
      req.once('response', (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.once('error', resolve)
        res.once('end', () => {
          const text = Buffer.concat(chunks).toString()
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {}, retryAfter: Number(res.headers['retry-after']) })
        })
      })
    })
    return { req, answer }
  }

  /** An upload that declares DECLARED bytes, sends one, and then nothing. */
  const idleUpload = (toPort: number, auth: Record<string, string>) => {
    const upload = post(toPort, auth, { 'content-length': DECLARED })
    upload.req.write('{')
    return upload
  }

  it('idle uploads from one key fill its share, not the budget: another key still sends', async () => {
    assert.equal(keyShare(BUDGET, bodyLimitFor(h.config.maxMessageBytes)), BUDGET / 4, 'the share is a quarter of the budget here')
    const first = idleUpload(port, h.auth)
    await waitFor('the first upload to be reserved', () => (h.app.bodyBudget.used === DECLARED ? true : undefined))
    // Five more would fill the 1 MiB budget were they admitted.
    const more = Array.from({ length: 5 }, () => idleUpload(port, h.auth))
    try {
      for (const upload of more) {
        const answer = await upload.answer
        assert.ok(!(answer instanceof Error), `a reply, not ${answer}`)
        assert.equal(answer.status, 503)
        assert.equal(answer.body.error?.code, 'unavailable')
        assert.match(answer.body.error?.message ?? '', /API key/)
        assert.ok(answer.retryAfter >= 1 && answer.retryAfter <= 3, `Retry-After 1-3 s, got ${answer.retryAfter}`)
      }
      assert.equal(h.app.bodyBudget.used, DECLARED, 'the refused uploads hold nothing')

      const other = post(port, otherAuth)
      other.req.end(JSON.stringify(basicEmail({ text: 'x'.repeat(50_000) })))
      const answer = await other.answer
      assert.ok(!(answer instanceof Error) && answer.status === 202, `another key sends: ${JSON.stringify(answer)}`)

      const small = post(port, h.auth)
      small.req.end(JSON.stringify(basicEmail()))
      const mine = await small.answer
      assert.ok(!(mine instanceof Error) && mine.status === 202, `a small send fits beside the key's own upload: ${JSON.stringify(mine)}`)
    } finally {
      for (const upload of [first, ...more]) upload.req.destroy()
    }
    await waitFor('the budget to be free', () => (h.app.bodyBudget.used === 0 && h.app.bodyBudget.holders === 0 ? true : undefined))
  })

  it('an upload that stalls is cut by the request timeout and its reservation freed', async () => {
    const started = Date.now()
    const stalled = idleUpload(quickPort, h.auth)
    await waitFor('the upload to be reserved', () => (quick.bodyBudget.used === DECLARED ? true : undefined))
    const answer = await stalled.answer
    const took = Date.now() - started
    assert.ok(answer instanceof Error || answer.status === 408, `cut: ${answer instanceof Error ? answer.message : answer.status}`)
    assert.ok(took >= 900 && took < 10_000, `cut after about the 1 s timeout (${took} ms)`)
    await waitFor('the budget to be free', () => (quick.bodyBudget.used === 0 && quick.bodyBudget.holders === 0 ? true : undefined), 5_000)

    const next = post(quickPort, h.auth)
    next.req.end(JSON.stringify(basicEmail()))
    const ok = await next.answer
    assert.ok(!(ok instanceof Error) && ok.status === 202, `a prompt request still goes: ${JSON.stringify(ok)}`)
  })
})

describe('cursors', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false })
  })
  after(async () => {
    await h.close()
  })

  it('a cursor this API did not issue → 422 naming the cursor, not 500', async () => {
    const forged = Buffer.from('v1:not-a-uuid').toString('base64url')
    for (const url of [
      `/v1/emails?cursor=${forged}`,
      `/v1/emails/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}/events?cursor=${forged}`,
    ]) {
      const res = await h.request('GET', url)
      assert.equal(res.status, 422, url)
      assert.equal(res.body.error.details[0].path, '/query/cursor')
    }
  })
})
