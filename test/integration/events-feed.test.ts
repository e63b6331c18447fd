import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { uuidv7 } from '../../src/lib/uuid.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness, workerEnv } from '../helpers/harness.js'
import { freePort, type Spawned, spawnHikyaku } from '../helpers/processes.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

type FeedEvent = { id: string; type: string; email_id: string; recipient: string | null; tags: Record<string, string> }
type Feed = { data: FeedEvent[]; next_cursor: string | null; has_more: boolean }

async function poll(h: Harness, after: string | null, query = ''): Promise<Feed> {
  const res = await h.request('GET', `/v1/events?limit=500${after ? `&after=${after}` : ''}${query}`)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

/** Reads the feed from `cursor` until it is empty; returns what it read and where it stopped. */
async function readAll(h: Harness, cursor: string | null): Promise<{ events: FeedEvent[]; cursor: string | null }> {
  const events: FeedEvent[] = []
  for (let i = 0; i < 1_000; i++) {
    const page = await poll(h, cursor)
    events.push(...page.data)
    cursor = page.next_cursor
    if (!page.has_more) break
  }
  return { events, cursor }
}

describe('GET /v1/events', () => {
  let h: Harness
  before(async () => {
    h = await startHarness({ worker: false })
  })
  after(async () => h.close())

  it('never passes an event whose transaction commits late, and returns it once it has', async () => {
    const first = await h.send(basicEmail({ tags: { batch: 'first' } }))
    assert.equal(first.status, 202)
    const start = await waitFor('the first event', async () => {
      const page = await poll(h, null)
      return page.data.length > 0 ? page : undefined
    })
    assert.deepEqual(
      start.data.map((e) => [e.type, e.email_id, e.tags.batch]),
      [['email.queued', first.body.id, 'first']],
    )

    // A transaction that wrote an event and has not committed yet, like an outcome being recorded.
    const late = new pg.Client({ connectionString: h.config.databaseUrl })
    await late.connect()
    const lateId = uuidv7()
    try {
      await late.query('BEGIN')
      await late.query(
        `INSERT INTO events (id, account_id, email_id, recipient, type, data) VALUES ($1, $2, $3, 'rcpt@example.net', 'email.deferred', '{}')`,
        [lateId, h.accountId, first.body.id],
      )
      // Later transactions commit meanwhile; their events sort after the open one's.
      const second = await h.send(basicEmail())
      assert.equal(second.status, 202)
      const meanwhile = await poll(h, start.next_cursor)
      assert.deepEqual(meanwhile.data, [], 'nothing is returned past a transaction still open')
      assert.equal(meanwhile.next_cursor, start.next_cursor, 'an empty poll keeps the cursor where it was')
      await late.query('COMMIT')

      const rest = await waitFor('the late event and the second email', async () => {
        const page = await poll(h, start.next_cursor)
        return page.data.length >= 2 ? page : undefined
      })
      assert.deepEqual(
        rest.data.map((e) => [e.id === lateId ? 'late' : e.type, e.email_id]),
        [
          ['late', first.body.id],
          ['email.queued', second.body.id],
        ],
      )
      const again = await poll(h, rest.next_cursor)
      assert.deepEqual(again.data, [])
    } finally {
      await late.end()
    }
  })

  it('filters by type, refuses bad input, and keeps accounts apart', async () => {
    const onlyDeferred = await poll(h, null, '&types=email.deferred')
    assert.ok(onlyDeferred.data.length > 0)
    assert.ok(onlyDeferred.data.every((e) => e.type === 'email.deferred'))
    // A filtered poll that finds nothing still moves past what it looked through.
    const none = await poll(h, null, '&types=email.cancelled')
    assert.deepEqual(none.data, [])
    assert.notEqual(none.next_cursor, null)
    assert.deepEqual((await poll(h, none.next_cursor)).data, [], 'nothing is left behind the advanced cursor')

    const badType = await h.request('GET', '/v1/events?types=email.queued,email.opend')
    assert.equal(badType.status, 422)
    assert.match(badType.body.error.details[0].message, /email\.opend/)
    const badCursor = await h.request('GET', '/v1/events?after=bm90LWEtY3Vyc29y')
    assert.equal(badCursor.status, 422)
    assert.equal(badCursor.body.error.details[0].path, '/query/after')

    const other = await h.container.services.accounts.create('Another account')
    const theirs = await h.request('GET', '/v1/events', { headers: { authorization: `Bearer ${other.key}` } })
    assert.equal(theirs.status, 200)
    assert.deepEqual(theirs.body.data, [])
  })
})

describe('GET /v1/events while three API processes and a worker write concurrently', () => {
  let h: Harness
  let sink: Sink
  const apis: Spawned[] = []
  const ports: number[] = []

  before(async () => {
    sink = await startSink()
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url, RATE_LIMIT_MAX: '1000000' } })
    for (let i = 0; i < 2; i++) {
      const port = await freePort()
      ports.push(port)
      apis.push(
        spawnHikyaku(['api'], workerEnv(h, { HOST: '127.0.0.1', PORT: String(port), SMTP_RELAY_URL: sink.url, RATE_LIMIT_MAX: '1000000' })),
      )
    }
    for (const port of ports) {
      await waitFor(
        `the API on :${port}`,
        () =>
          fetch(`http://127.0.0.1:${port}/healthz`).then(
            (r) => (r.ok ? true : undefined),
            () => undefined,
          ),
        30_000,
        200,
      )
    }
  })
  after(async () => {
    for (const api of apis) {
      api.child.kill('SIGTERM')
      await api.exited
    }
    await h.close()
    await sink.close()
  })

  it('returns every event exactly once to a poller reading all along', async () => {
    const PER_SENDER = 60
    let polling = true
    const seen: FeedEvent[] = []
    let cursor: string | null = null
    const poller = (async () => {
      for (let i = 0; i < 10_000 && polling; i++) {
        const read = await readAll(h, cursor)
        seen.push(...read.events)
        cursor = read.cursor
        await new Promise((r) => setTimeout(r, 10))
      }
    })()

    const viaProcess = (port: number, i: number) =>
      fetch(`http://127.0.0.1:${port}/v1/emails`, {
        method: 'POST',
        headers: { ...h.auth, 'content-type': 'application/json' },
        body: JSON.stringify(basicEmail({ to: [`a${i}@example.net`, `b${i}@example.net`] })),
      }).then((r) => r.status)
    const senders = [
      ...ports.map(async (port) => {
        const statuses: number[] = []
        for (let i = 0; i < PER_SENDER; i += 5) statuses.push(...(await Promise.all([0, 1, 2, 3, 4].map((k) => viaProcess(port, i + k)))))
        return statuses
      }),
      (async () => {
        const statuses: number[] = []
        for (let i = 0; i < PER_SENDER; i += 5)
          statuses.push(
            ...(await Promise.all([0, 1, 2, 3, 4].map(async (k) => (await h.send(basicEmail({ to: `c${i + k}@example.net` }))).status))),
          )
        return statuses
      })(),
    ]
    const statuses = (await Promise.all(senders)).flat()
    assert.ok(
      statuses.every((s) => s === 202),
      `every send accepted: ${statuses.filter((s) => s !== 202).join(',')}`,
    )
    const recipients = ports.length * PER_SENDER * 2 + PER_SENDER
    await waitFor(
      'every recipient delivered',
      async () => (sink.received.reduce((n, m) => n + m.to.length, 0) >= recipients ? true : undefined),
      60_000,
    ).catch((err) => {
      polling = false
      throw err
    })

    const db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
    try {
      const expected = async () =>
        (await db.query<{ id: string }>('SELECT id FROM events WHERE account_id = $1', [h.accountId])).rows.map((r) => r.id)
      await waitFor('the poller to catch up', async () => ((await expected()).length === seen.length ? true : undefined), 30_000, 100)
      polling = false
      await poller
      const ids = seen.map((e) => e.id)
      assert.equal(new Set(ids).size, ids.length, 'no event is returned twice')
      assert.deepEqual([...ids].sort(), (await expected()).sort(), 'every event is returned')
      // Each recipient's queued event, then its sent event.
      assert.equal(seen.filter((e) => e.type === 'email.queued').length, recipients)
      assert.equal(seen.filter((e) => e.type === 'email.sent').length, recipients)
    } finally {
      await db.end()
    }
  })
})
