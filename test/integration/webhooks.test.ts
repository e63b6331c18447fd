import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { Webhook } from 'standardwebhooks'
import type { Stop } from '../../src/entrypoints/lifecycle.js'
import { startWebhooks } from '../../src/entrypoints/webhooks.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness } from '../helpers/harness.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

interface Received {
  id: string
  status: number
  verified: boolean
  body: string
  type?: string
}

/** A webhook receiver on loopback that verifies every request with the official package. */
async function startReceiver(answer: (n: number) => number) {
  const received: Received[] = []
  let secrets: string[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      const headers = req.headers as IncomingHttpHeaders & Record<string, string>
      const verified = secrets.length > 0 && secrets.every((s) => verifies(s, body, headers))
      const status = verified ? answer(received.length) : 401
      received.push({ id: String(req.headers['webhook-id']), status, verified, body, type: verified ? JSON.parse(body).type : undefined })
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `not now (${status})`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    /** Every secret that must verify each request. */
    trust(next: string[]) {
      secrets = next
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

function verifies(secret: string, body: string, headers: Record<string, string>): boolean {
  try {
    new Webhook(secret).verify(body, headers)
    return true
  } catch {
    return false
  }
}

describe('webhooks', () => {
  let h: Harness
  let sink: Sink
  let stopWebhooks: Stop
  let db: pg.Client

  before(async () => {
    sink = await startSink()
    h = await startHarness({
      env: {
        SMTP_RELAY_URL: sink.url,
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_RETRY_SCHEDULE: '100ms,200ms,300ms,400ms,500ms,500ms,500ms,500ms,500ms,500ms',
        WEBHOOK_TIMEOUT: '2s',
      },
    })
    stopWebhooks = await startWebhooks(h.container)
    db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
  })
  after(async () => {
    await db.end()
    await stopWebhooks()
    await h.close()
    await sink.close()
  })

  it('delivers every event, signed, to a receiver that fails for a while and then recovers', async () => {
    // The first 30 requests are refused with 503; every later one is taken.
    const receiver = await startReceiver((n) => (n < 30 ? 503 : 200))
    const all = await h.request('POST', '/v1/webhooks', { payload: { url: receiver.url } })
    assert.equal(all.status, 201, JSON.stringify(all.body))
    assert.match(all.body.secret, /^whsec_/)
    receiver.trust([all.body.secret])
    const onlySent = await startReceiver(() => 200)
    const filtered = await h.request('POST', '/v1/webhooks', { payload: { url: onlySent.url, event_types: ['email.sent'] } })
    onlySent.trust([filtered.body.secret])

    const emails = await Promise.all(
      Array.from({ length: 15 }, (_, i) => h.send(basicEmail({ to: [`a${i}@example.net`, `b${i}@example.net`] }))),
    )
    assert.ok(emails.every((e) => e.status === 202))
    const ids = async () =>
      (
        await db.query<{ id: string; type: string }>(`SELECT id, type FROM events WHERE account_id = $1 AND email_id = ANY($2::uuid[])`, [
          h.accountId,
          emails.map((e) => e.body.id),
        ])
      ).rows
    // 30 recipients: queued and sent each.
    await waitFor('every event written', async () => ((await ids()).length === 60 ? true : undefined), 20_000)
    const expected = await ids()
    const delivered = () => new Set(receiver.received.filter((r) => r.status === 200).map((r) => r.id))
    await waitFor('every event delivered', async () => (delivered().size >= 60 ? true : undefined), 30_000, 100)

    assert.deepEqual([...delivered()].sort(), expected.map((e) => e.id).sort(), 'each event once, by its id')
    assert.ok(
      receiver.received.every((r) => r.verified),
      'every request verifies with the secret',
    )
    assert.ok(receiver.received.filter((r) => r.status === 503).length === 30, 'the receiver refused the first requests')
    // A repeat is the same message: same webhook-id, same body.
    const bodies = new Map<string, Set<string>>()
    for (const r of receiver.received) bodies.set(r.id, (bodies.get(r.id) ?? new Set()).add(r.body))
    assert.ok(
      [...bodies.values()].every((b) => b.size === 1),
      'a retried event is sent with the same body',
    )
    const payload = JSON.parse(receiver.received.find((r) => r.status === 200)?.body ?? '{}')
    assert.deepEqual(Object.keys(payload).sort(), ['data', 'timestamp', 'type'])
    assert.equal(payload.data.id, receiver.received.find((r) => r.status === 200)?.id)

    await waitFor('the filtered endpoint', async () => (onlySent.received.length >= 30 ? true : undefined), 20_000, 100)
    assert.ok(onlySent.received.every((r) => r.type === 'email.sent'))
    assert.equal(new Set(onlySent.received.map((r) => r.id)).size, 30)

    // The request log shows the failures and the successes, with what the receiver answered.
    const log = await h.request('GET', `/v1/webhooks/${all.body.id}/attempts?limit=100`)
    assert.equal(log.status, 200)
    const refused = log.body.data.find((a: { status_code: number }) => a.status_code === 503)
    assert.equal(refused.response_body, 'not now (503)')
    assert.ok(typeof refused.duration_ms === 'number')
    const endpoint = await h.request('GET', `/v1/webhooks/${all.body.id}`)
    assert.equal(endpoint.body.failing_since, null, 'a success clears the failure')

    // Replay one event: sent again with the same webhook-id.
    const before = receiver.received.length
    const replay = await h.request('POST', `/v1/webhooks/${all.body.id}/replay`, { payload: { event_id: expected[0]?.id } })
    assert.equal(replay.status, 202)
    assert.equal(replay.body.queued, 1)
    await waitFor('the replay', async () => (receiver.received.length > before ? true : undefined), 10_000, 50)
    assert.equal(receiver.received.at(-1)?.id, expected[0]?.id)

    // Rotation: during the overlap every request verifies with the new secret and the old one.
    const rotated = await h.request('POST', `/v1/webhooks/${all.body.id}/rotate-secret`, { payload: { overlap_seconds: 3600 } })
    assert.equal(rotated.status, 200)
    assert.notEqual(rotated.body.secret, all.body.secret)
    receiver.trust([rotated.body.secret, all.body.secret])
    const afterRotation = receiver.received.length
    await h.request('POST', `/v1/webhooks/${all.body.id}/replay`, { payload: { event_id: expected[1]?.id } })
    await waitFor('a request after rotation', async () => (receiver.received.length > afterRotation ? true : undefined), 10_000, 50)
    assert.equal(receiver.received.at(-1)?.verified, true)

    await receiver.close()
    await onlySent.close()
  })

  it('keeps tenants apart and validates input', async () => {
    const other = await h.container.services.accounts.create('Another account')
    const mine = await h.request('POST', '/v1/webhooks', { payload: { url: 'https://hooks.example.com/a' } })
    const theirs = await h.request('GET', `/v1/webhooks/${mine.body.id}`, { headers: { authorization: `Bearer ${other.key}` } })
    assert.equal(theirs.status, 404)
    const bad = await h.request('POST', '/v1/webhooks', { payload: { url: 'ftp://example.com/', event_types: ['email.nope'] } })
    assert.equal(bad.status, 422)
    assert.deepEqual(bad.body.error.details.map((d: { path: string }) => d.path).sort(), ['/event_types', '/url'])
    assert.equal((await h.request('DELETE', `/v1/webhooks/${mine.body.id}`)).status, 200)
    assert.equal((await h.request('GET', `/v1/webhooks/${mine.body.id}`)).status, 404)
  })
})

describe('webhooks: private targets and failing endpoints', () => {
  let h: Harness
  let stopWebhooks: Stop

  before(async () => {
    h = await startHarness({ worker: false, env: { WEBHOOK_RETRY_SCHEDULE: '100ms', WEBHOOK_DISABLE_AFTER: '1s' } })
    stopWebhooks = await startWebhooks(h.container)
  })
  after(async () => {
    await stopWebhooks()
    await h.close()
  })

  it('refuses loopback, private and link-local targets unless WEBHOOK_ALLOW_PRIVATE', async () => {
    for (const url of [
      'http://127.0.0.1:8080/',
      'http://localhost/hook',
      'http://[::1]/',
      'http://10.1.2.3/',
      'http://169.254.169.254/latest/meta-data',
      'http://0x7f000001/',
      'http://user:pw@example.com/',
    ]) {
      const res = await h.request('POST', '/v1/webhooks', { payload: { url } })
      assert.equal(res.status, 422, url)
      assert.equal(res.body.error.details[0].path, '/url')
    }
  })

  it('disables an endpoint that keeps failing, with the reason visible, and resumes it on request', async () => {
    const db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
    try {
      // Stored directly: the API refuses this target here, and the sender must refuse it too.
      const created = await h.request('POST', '/v1/webhooks', { payload: { url: 'https://hooks.example.com/x' } })
      await db.query(`UPDATE webhook_endpoints SET url = 'http://127.0.0.1:9/hook' WHERE id = $1`, [created.body.id])
      await h.send(basicEmail())
      const disabled = await waitFor(
        'the endpoint disabled',
        async () => {
          const ep = await h.request('GET', `/v1/webhooks/${created.body.id}`)
          return ep.body.enabled === false ? ep.body : undefined
        },
        20_000,
        200,
      )
      assert.match(disabled.disabled_reason, /failed since/)
      const log = await h.request('GET', `/v1/webhooks/${created.body.id}/attempts`)
      assert.match(log.body.data[0].error, /refused_address/, 'the loopback target was never contacted')

      const resumed = await h.request('PATCH', `/v1/webhooks/${created.body.id}`, { payload: { enabled: true } })
      assert.equal(resumed.body.enabled, true)
      assert.equal(resumed.body.disabled_reason, null)
    } finally {
      await db.end()
    }
  })
})
