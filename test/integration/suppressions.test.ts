import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { createDeliveryRepository } from '../../src/modules/delivery/delivery.repository.js'
import { findSuppressed, foldAddressSql, insertSuppressions } from '../../src/modules/suppressions/suppression.repository.js'
import { EXPORT_PAGE_SIZE } from '../../src/modules/suppressions/suppression.types.js'
import { foldAddress } from '../../src/modules/suppressions/suppression.validate.js'
import { basicEmail, type Harness, startHarness, TERMINAL } from '../helpers/harness.js'
import { smtpClient } from '../helpers/smtp-client.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

/**
 * The suppression list end to end: the API (CRUD, tenant isolation, scopes, validation, import
 * and export), and its enforcement when mail is accepted (HTTP and SMTP) and again when a
 * recipient is claimed, against a loopback SMTP sink that records every RCPT it is given.
 */
type Entry = {
  address: string
  stream: string | null
  reason: string
  source: Record<string, unknown>
  expires_at: string | null
  created_at: string
}
type Detail = { path: string; message: string }
type Recipient = { address: string; status: string; reason: string | null; attempts: number }
type Email = { status: string; recipients: Recipient[]; events: Array<{ type: string; recipient: string; data: Record<string, unknown> }> }

const inFuture = (ms: number) => new Date(Date.now() + ms).toISOString()
const done = (email: { status: string }) => TERMINAL.includes(email.status)

describe('suppression list', () => {
  let sink: Sink
  let h: Harness
  /** Every RCPT TO the sink was given: a suppressed address must never appear here. */
  const rcpts: string[] = []
  let other: Record<string, string>
  let sendOnly: Record<string, string>

  before(async () => {
    sink = await startSink({
      rcpt: (address) => {
        rcpts.push(address.toLowerCase())
        return undefined
      },
    })
    h = await startHarness({ smtp: true, env: { SMTP_RELAY_URL: sink.url } })
    const otherAccount = await h.container.services.accounts.create('Other tenant')
    other = { authorization: `Bearer ${otherAccount.key}` }
    const send = await h.request('POST', '/v1/api-keys', { payload: { scope: 'send', name: 'sender' } })
    assert.equal(send.status, 201, JSON.stringify(send.body))
    sendOnly = { authorization: `Bearer ${send.body.key}` }
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  const add = async (body: Record<string, unknown>, headers: Record<string, string> = h.auth) =>
    h.request('POST', '/v1/suppressions', { payload: body, headers })
  const csvImport = async (text: string, headers: Record<string, string> = h.auth) => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/suppressions/import',
      headers: { ...headers, 'content-type': 'text/csv; charset=utf-8' },
      payload: text,
    })
    return { status: res.statusCode, body: res.json() }
  }
  const exportAs = async (format: 'csv' | 'json', headers: Record<string, string> = h.auth) => {
    const res = await h.app.inject({ method: 'GET', url: `/v1/suppressions/export?format=${format}`, headers })
    assert.equal(res.statusCode, 200, res.body)
    return res
  }
  /** A direct connection to the harness's database, for what the API cannot do (move a clock). */
  const sql = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> => {
    const db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
    try {
      return (await db.query<T>(text, values)).rows
    } finally {
      await db.end()
    }
  }
  const email = async (id: string) => (await h.getEmail(id)) as Email
  const settle = async (id: string) => (await h.waitForEmail(id, done)) as unknown as Email

  describe('the API', () => {
    it('POST adds a manual entry (lower-cased, 201), re-adding answers 200 with it, GET finds it by any case, DELETE removes it', async () => {
      const created = await add({ address: 'Ada.Lovelace@Example.COM', note: 'asked us to stop' })
      assert.equal(created.status, 201, JSON.stringify(created.body))
      const entry = created.body as Entry
      assert.deepEqual(
        { ...entry, created_at: undefined },
        {
          address: 'ada.lovelace@example.com',
          stream: null,
          reason: 'manual',
          source: { origin: 'api', note: 'asked us to stop' },
          expires_at: null,
          created_at: undefined,
        },
      )
      const again = await add({ address: 'ADA.LOVELACE@example.com' })
      assert.equal(again.status, 200)
      assert.deepEqual(again.body, entry)

      const found = await h.request('GET', `/v1/suppressions/${encodeURIComponent('ADA.lovelace@EXAMPLE.com')}`)
      assert.equal(found.status, 200)
      assert.deepEqual(found.body, entry)
      // Without ?stream= the account-wide entry; there is none for one stream only.
      assert.equal((await h.request('GET', '/v1/suppressions/ada.lovelace@example.com?stream=broadcast')).status, 404)
      const listed = await h.request('GET', '/v1/suppressions?address=Ada.Lovelace@example.com')
      assert.deepEqual(listed.body, { data: [entry], next_cursor: null })

      const removed = await h.request('DELETE', '/v1/suppressions/ada.lovelace@example.com')
      assert.equal(removed.status, 204)
      assert.equal(removed.body, undefined)
      const gone = await h.request('GET', '/v1/suppressions/ada.lovelace@example.com')
      assert.equal(gone.status, 404)
      assert.equal(gone.body.error.code, 'not_found')
      assert.equal((await h.request('DELETE', '/v1/suppressions/ada.lovelace@example.com')).status, 404)
    })

    it('an entry per stream is its own entry; re-adding never shortens an expiry', async () => {
      const expires = inFuture(3_600_000)
      const broadcast = await add({ address: 'streams@example.com', stream: 'broadcast', expires_at: expires })
      assert.equal(broadcast.status, 201)
      assert.equal(broadcast.body.stream, 'broadcast')
      assert.equal(broadcast.body.expires_at, expires)
      assert.equal((await add({ address: 'streams@example.com' })).status, 201, 'the account-wide entry is another entry')
      const sooner = await add({ address: 'streams@example.com', stream: 'broadcast', expires_at: inFuture(60_000) })
      assert.equal(sooner.status, 200)
      assert.equal(sooner.body.expires_at, expires, 'a sooner expiry does not shorten it')
      const never = await add({ address: 'streams@example.com', stream: 'broadcast' })
      assert.equal(never.body.expires_at, null, 'no expiry makes it permanent')
      const later = await add({ address: 'streams@example.com', stream: 'broadcast', expires_at: inFuture(7_200_000) })
      assert.equal(later.body.expires_at, null, 'a permanent entry stays permanent')
      assert.equal((await h.request('DELETE', '/v1/suppressions/streams@example.com?stream=broadcast')).status, 204)
      assert.equal((await h.request('GET', '/v1/suppressions/streams@example.com')).status, 200, 'the account-wide entry is still there')
    })

    it('lists newest first with filters (domain, reason, stream) and an opaque cursor', async () => {
      const domain = 'listing.example'
      const rows = [
        { address: `a@${domain}`, reason: 'hard_bounce' },
        { address: `b@${domain}`, reason: 'complaint', stream: 'broadcast' },
        { address: `c@${domain}`, reason: 'manual', stream: 'transactional' },
        { address: `d@sub.${domain}`, reason: 'manual' },
      ]
      const imported = await h.request('POST', '/v1/suppressions/import', { payload: { suppressions: rows } })
      assert.equal(imported.status, 200, JSON.stringify(imported.body))
      const list = async (query: string) => (await h.request('GET', `/v1/suppressions?${query}`)).body
      const addresses = (page: { data: Entry[] }) => page.data.map((e) => e.address).sort()

      assert.deepEqual(addresses(await list(`domain=${domain}`)), [`a@${domain}`, `b@${domain}`, `c@${domain}`])
      assert.deepEqual(addresses(await list(`domain=${domain}&reason=complaint`)), [`b@${domain}`])
      // A stream's list: its own entries and the account-wide ones.
      assert.deepEqual(addresses(await list(`domain=${domain}&stream=transactional`)), [`a@${domain}`, `c@${domain}`])
      assert.deepEqual(addresses(await list(`domain=${domain}&stream=broadcast`)), [`a@${domain}`, `b@${domain}`])

      const first = await list(`domain=${domain}&limit=2`)
      assert.equal(first.data.length, 2)
      assert.ok(first.next_cursor)
      const second = await list(`domain=${domain}&limit=2&cursor=${first.next_cursor}`)
      assert.equal(second.data.length, 1)
      assert.equal(second.next_cursor, null)
      const all = [...first.data, ...second.data] as Entry[]
      assert.deepEqual(
        all.map((e) => e.created_at),
        [...all.map((e) => e.created_at)].sort().reverse(),
        'newest first',
      )
      assert.equal((await list(`domain=${domain}&created_after=${inFuture(60_000)}`)).data.length, 0)
      assert.equal((await list(`domain=${domain}&created_before=${inFuture(60_000)}`)).data.length, 3)
    })

    it('another account sees 404 and an empty list, and cannot delete', async () => {
      assert.equal((await add({ address: 'tenant@example.com' })).status, 201)
      assert.equal((await h.request('GET', '/v1/suppressions/tenant@example.com', { headers: other })).status, 404)
      assert.equal((await h.request('DELETE', '/v1/suppressions/tenant@example.com', { headers: other })).status, 404)
      assert.deepEqual((await h.request('GET', '/v1/suppressions?address=tenant@example.com', { headers: other })).body, {
        data: [],
        next_cursor: null,
      })
      assert.equal((await h.request('GET', '/v1/suppressions/tenant@example.com')).status, 200, 'still there for its owner')
    })

    it('a send-scope key is refused every suppression route with 403', async () => {
      for (const [method, url, payload] of [
        ['GET', '/v1/suppressions', undefined],
        ['GET', '/v1/suppressions/tenant@example.com', undefined],
        ['POST', '/v1/suppressions', { address: 'x@example.com' }],
        ['DELETE', '/v1/suppressions/tenant@example.com', undefined],
        ['POST', '/v1/suppressions/import', { suppressions: [] }],
        ['GET', '/v1/suppressions/export', undefined],
      ] as const) {
        const res = await h.request(method, url, { payload, headers: sendOnly })
        assert.equal(res.status, 403, `${method} ${url}`)
        assert.equal(res.body.error.code, 'forbidden')
      }
    })

    it('validation lists every bad field: address (parsed as on the send path, no CRLF), stream, expiry, note, unknown fields', async () => {
      const res = await add({ address: 'not an address', stream: 'bulk', expires_at: '2001-01-01T00:00:00Z', note: 'two\nlines', extra: 1 })
      assert.equal(res.status, 422)
      assert.equal(res.body.error.code, 'validation_failed')
      assert.deepEqual((res.body.error.details as Detail[]).map((d) => d.path).sort(), [
        '/address',
        '/expires_at',
        '/extra',
        '/note',
        '/stream',
      ])
      const semantic = await add({ address: 'not an address', expires_at: '2001-01-01T00:00:00Z', note: 'two\nlines' })
      assert.deepEqual(semantic.body.error.details, [
        { path: '/address', message: '"not an address" is not an email address (expected user@example.com)' },
        { path: '/expires_at', message: 'must be in the future' },
        { path: '/note', message: 'must not contain line breaks or control characters' },
      ])
      const injected = await add({ address: 'a@example.com\r\nBcc: b@example.com' })
      assert.deepEqual(injected.body.error.details, [{ path: '/address', message: 'must not contain line breaks (CR or LF)' }])
      assert.equal((await add({ address: 'Ada <ada@example.com>' })).status, 422)
      assert.equal((await add({ address: `${'a'.repeat(321)}@example.com` })).status, 422)
      const badParam = await h.request('GET', '/v1/suppressions/nobody')
      assert.equal(badParam.status, 422)
      assert.equal(badParam.body.error.details[0].path, '/params/address')
      const badQuery = await h.request('GET', '/v1/suppressions?domain=not_a_domain&reason=lost')
      assert.equal(badQuery.status, 422)
    })
  })

  describe('import and export', () => {
    it('imports JSON; any bad row refuses the whole request, naming each, and writes nothing; a retry is safe', async () => {
      const bad = await h.request('POST', '/v1/suppressions/import', {
        payload: {
          suppressions: [
            { address: 'json-ok@example.com' },
            { address: 'json bad@example.com' },
            { address: 'json-reason@example.com', reason: 'annoyed', stream: 'broadcast', expires_at: 'tomorrow' },
            { address: 'json-past@example.com', expires_at: '2001-01-01T00:00:00Z' },
          ],
        },
      })
      assert.equal(bad.status, 422)
      assert.deepEqual((bad.body.error.details as Detail[]).map((d) => d.path).sort(), [
        '/suppressions/1/address',
        '/suppressions/2/expires_at',
        '/suppressions/2/reason',
        '/suppressions/3/expires_at',
      ])
      assert.equal((await h.request('GET', '/v1/suppressions/json-ok@example.com')).status, 404, 'nothing was written')

      const good = {
        suppressions: [
          { address: 'json-ok@example.com', reason: 'hard_bounce' },
          { address: 'JSON-OK@example.com', reason: 'manual' },
          { address: 'json-broadcast@example.com', reason: 'unsubscribe', stream: 'broadcast', expires_at: inFuture(86_400_000) },
        ],
      }
      const first = await h.request('POST', '/v1/suppressions/import', { payload: good })
      assert.equal(first.status, 200, JSON.stringify(first.body))
      assert.deepEqual(first.body, { received: 3, created: 2, updated: 0, unchanged: 1 })
      const retry = await h.request('POST', '/v1/suppressions/import', { payload: good })
      assert.deepEqual(retry.body, { received: 3, created: 0, updated: 0, unchanged: 3 })
      const entry = (await h.request('GET', '/v1/suppressions/json-ok@example.com')).body
      assert.equal(entry.reason, 'hard_bounce', 'the feedback reason wins over manual')
      assert.deepEqual(entry.source, { origin: 'import' })

      const tooMany = await h.request('POST', '/v1/suppressions/import', {
        payload: { suppressions: Array.from({ length: 10_001 }, (_, i) => ({ address: `many${i}@example.com` })) },
      })
      assert.equal(tooMany.status, 422)
      assert.deepEqual(tooMany.body.error.details, [{ path: '/suppressions', message: 'must have at most 10000 items' }])
    })

    it('imports RFC 4180 CSV (quoted fields, any column order); a bad row names its line and nothing is written', async () => {
      const bad = await csvImport(
        [
          'reason,address,stream',
          'complaint,csv-ok@example.com,',
          'lost,"csv,bad@example.com",broadcast',
          'manual,"two',
          'lines@example.com",',
          ',csv-third@example.com,bulk,extra',
        ].join('\r\n'),
      )
      assert.equal(bad.status, 422)
      assert.deepEqual(bad.body.error.details, [
        { path: '/line/3/address', message: '"csv,bad@example.com" has an invalid local part before the @' },
        { path: '/line/3/reason', message: 'must be one of "hard_bounce", "complaint", "unsubscribe", "manual"' },
        { path: '/line/4/address', message: 'must not contain line breaks (CR or LF)' },
        { path: '/line/6', message: 'has 4 fields; the header names 3' },
      ])
      assert.equal((await h.request('GET', '/v1/suppressions/csv-ok@example.com')).status, 404, 'nothing was written')
      const unclosed = await csvImport('address\r\n"open@example.com\r\n')
      assert.equal(unclosed.body.error.details[0].path, '/line/2')
      const noAddress = await csvImport('email,reason\r\nx@example.com,manual\r\n')
      assert.deepEqual(
        (noAddress.body.error.details as Detail[]).map((d) => d.path),
        ['/line/1/1', '/line/1'],
      )

      const good = await csvImport(
        ['\ufeffreason,address,stream,expires_at', 'complaint,csv-ok@example.com,,', ',"""quoted,local""@example.com",broadcast,', ''].join(
          '\r\n',
        ),
      )
      assert.equal(good.status, 200, JSON.stringify(good.body))
      assert.deepEqual(good.body, { received: 2, created: 2, updated: 0, unchanged: 0 })
      const quoted = await h.request('GET', `/v1/suppressions/${encodeURIComponent('"quoted,local"@example.com')}?stream=broadcast`)
      assert.equal(quoted.status, 200)
      assert.equal(quoted.body.reason, 'manual')
    })

    it('refuses more than 10,000 rows (422) and a body over 8 MiB (413)', async () => {
      const many = ['address', ...Array.from({ length: 10_001 }, (_, i) => `many${i}@example.com`)].join('\r\n')
      const rows = await csvImport(many)
      assert.equal(rows.status, 422)
      assert.deepEqual(rows.body.error.details, [{ path: '', message: 'has more than 10000 rows; split the import' }])
      const huge = `address\r\n${`${'a'.repeat(60)}@example.com\r\n`.repeat(120_000)}`
      const big = await csvImport(huge)
      assert.equal(big.status, 413)
      assert.equal(big.body.error.code, 'payload_too_large')
      assert.equal((await h.request('GET', '/v1/suppressions?address=many0@example.com')).body.data.length, 0)
    })

    it('exports every entry page by page, as CSV and JSON, and either imports into another account as it is', async () => {
      const fresh = await h.container.services.accounts.create('Export source')
      const source = { authorization: `Bearer ${fresh.key}` }
      const count = EXPORT_PAGE_SIZE * 2 + 7
      const rows = Array.from({ length: count }, (_, i) => ({
        address: `export${i}@example.com`,
        reason: (['hard_bounce', 'complaint', 'unsubscribe', 'manual'] as const)[i % 4],
        ...(i % 3 === 0 ? { stream: 'broadcast' } : {}),
        ...(i % 5 === 0 ? { expires_at: inFuture(86_400_000 + i * 1000) } : {}),
      }))
      assert.equal((await h.request('POST', '/v1/suppressions/import', { payload: { suppressions: rows }, headers: source })).status, 200)

      const csv = await exportAs('csv', source)
      assert.match(String(csv.headers['content-type']), /^text\/csv/)
      const lines = csv.body.split('\r\n')
      assert.equal(lines[0], 'address,reason,stream,expires_at,created_at')
      assert.equal(lines.length, count + 2, 'a header, every entry, and the final line break')
      const json = await exportAs('json', source)
      const exported = (json.json() as { suppressions: Entry[] }).suppressions
      assert.equal(exported.length, count)

      const shape = (entries: Entry[]) => entries.map((e) => [e.address, e.reason, e.stream, e.expires_at].join('|')).sort()
      const expected = shape(exported)
      for (const [format, body] of [
        ['csv', csv.body],
        ['json', json.body],
      ] as const) {
        const target = await h.container.services.accounts.create(`Import from ${format}`)
        const headers = { authorization: `Bearer ${target.key}` }
        const imported =
          format === 'csv'
            ? await csvImport(body, headers)
            : await h.request('POST', '/v1/suppressions/import', { payload: JSON.parse(body), headers })
        assert.equal(imported.status, 200, JSON.stringify(imported.body).slice(0, 500))
        assert.equal(imported.body.created, count)
        const back = (await exportAs('json', headers)).json() as { suppressions: Entry[] }
        assert.deepEqual(shape(back.suppressions), expected, `${format} round trip`)
      }
      const nobody = await h.container.services.accounts.create('Empty list')
      const empty = await exportAs('json', { authorization: `Bearer ${nobody.key}` })
      assert.deepEqual(empty.json(), { suppressions: [] })
      assert.equal(
        (await exportAs('csv', { authorization: `Bearer ${nobody.key}` })).body,
        'address,reason,stream,expires_at,created_at\r\n',
      )
    })

    it('an expired entry no longer applies: not listed, not found, and re-adding renews it', async () => {
      assert.equal((await add({ address: 'expiring@example.net', expires_at: inFuture(3_600_000) })).status, 201)
      await sql(`UPDATE suppressions SET expires_at = now() - interval '1 second' WHERE address = 'expiring@example.net'`)
      assert.equal((await h.request('GET', '/v1/suppressions/expiring@example.net')).status, 404)
      assert.equal((await h.request('GET', '/v1/suppressions?address=expiring@example.net')).body.data.length, 0)
      const res = await h.send(basicEmail({ to: 'expiring@example.net' }))
      assert.deepEqual(res.body.suppressed, [])
      assert.equal((await settle(res.body.id)).status, 'sent')
      const renewed = await add({ address: 'expiring@example.net' })
      assert.equal(renewed.status, 201, 'an expired entry is replaced by a new one')
      assert.equal(renewed.body.expires_at, null)
    })
  })

  describe('enforcement', () => {
    it('at accept: an all-suppressed email is stored as suppressed, answered with the reason, sends nothing, records the event', async () => {
      await h.request('POST', '/v1/suppressions/import', {
        payload: { suppressions: [{ address: 'gone@example.net', reason: 'hard_bounce' }] },
      })
      const res = await h.send(basicEmail({ to: 'Gone@Example.net', tags: { case: 'all' } }))
      assert.equal(res.status, 202)
      assert.equal(res.body.status, 'suppressed')
      assert.deepEqual(res.body.suppressed, [{ address: 'Gone@example.net', reason: 'hard_bounce' }])
      const stored = await email(res.body.id)
      assert.equal(stored.status, 'suppressed')
      assert.deepEqual(
        stored.recipients.map((r) => [r.address, r.status, r.reason, r.attempts]),
        [['Gone@example.net', 'suppressed', 'hard_bounce', 0]],
      )
      assert.deepEqual(
        stored.events.map((e) => [e.type, e.data]),
        [['email.suppressed', { reason: 'hard_bounce' }]],
      )
      // A message sent after it is delivered; the suppressed one never reached the sink.
      const later = await h.send(basicEmail({ to: 'after-gone@example.net' }))
      assert.equal((await settle(later.body.id)).status, 'sent')
      assert.ok(!rcpts.includes('gone@example.net'))
      assert.equal((await sql('SELECT count(*)::int AS n FROM delivery_attempts WHERE email_id = $1', [res.body.id]))[0]?.n, 0)
    })

    it('at accept: one suppressed recipient of two → the other is delivered, and the email ends partially_delivered', async () => {
      await add({ address: 'half-stop@example.net' })
      const res = await h.send(basicEmail({ to: ['half-stop@example.net', 'half-go@example.net'] }))
      assert.equal(res.status, 202)
      assert.equal(res.body.status, 'queued')
      assert.deepEqual(res.body.suppressed, [{ address: 'half-stop@example.net', reason: 'manual' }])
      const settled = await settle(res.body.id)
      // DESIGN §3: all terminal, at least one success, not all → partially_delivered.
      assert.equal(settled.status, 'partially_delivered')
      assert.deepEqual(settled.recipients.map((r) => [r.address, r.status]).sort(), [
        ['half-go@example.net', 'sent'],
        ['half-stop@example.net', 'suppressed'],
      ])
      assert.deepEqual(sink.received.find((m) => m.to.includes('half-go@example.net'))?.to, ['half-go@example.net'])
      assert.ok(!rcpts.includes('half-stop@example.net'))
    })

    it('a broadcast-only entry stops broadcast mail and not transactional mail', async () => {
      await add({ address: 'news-only@example.net', stream: 'broadcast' })
      const transactional = await h.send(basicEmail({ to: 'news-only@example.net' }))
      assert.deepEqual(transactional.body.suppressed, [])
      assert.equal((await settle(transactional.body.id)).status, 'sent')
      const broadcast = await h.send(basicEmail({ to: 'news-only@example.net', stream: 'broadcast' }))
      assert.equal(broadcast.body.status, 'suppressed')
      assert.deepEqual(broadcast.body.suppressed, [{ address: 'news-only@example.net', reason: 'manual' }])
    })

    it("another account's entry does not stop this account's mail", async () => {
      assert.equal((await add({ address: 'theirs@example.net' }, other)).status, 201)
      const res = await h.send(basicEmail({ to: 'theirs@example.net' }))
      assert.deepEqual(res.body.suppressed, [])
      assert.equal((await settle(res.body.id)).status, 'sent')
    })

    it('with an Idempotency-Key: the answer lists the suppressed recipients, and its replay too', async () => {
      await add({ address: 'idem-stop@example.net' })
      const body = basicEmail({ to: ['idem-stop@example.net', 'idem-go@example.net'] })
      const first = await h.send(body, { 'idempotency-key': 'suppressed-1' })
      assert.equal(first.status, 202)
      assert.deepEqual(first.body.suppressed, [{ address: 'idem-stop@example.net', reason: 'manual' }])
      const replay = await h.send(body, { 'idempotency-key': 'suppressed-1' })
      assert.equal(replay.headers['idempotent-replayed'], 'true')
      assert.deepEqual(replay.body, first.body)
    })

    it('at claim: an address suppressed after accept is settled as suppressed when its turn comes, and never sent', async () => {
      const res = await h.send(basicEmail({ to: ['late-stop@example.net', 'late-go@example.net'], scheduled_at: inFuture(2_500) }))
      assert.equal(res.body.status, 'scheduled')
      assert.deepEqual(res.body.suppressed, [])
      await h.request('POST', '/v1/suppressions/import', {
        payload: { suppressions: [{ address: 'LATE-STOP@example.net', reason: 'complaint' }] },
      })
      const settled = await settle(res.body.id)
      assert.equal(settled.status, 'partially_delivered')
      const byAddress = Object.fromEntries(settled.recipients.map((r) => [r.address, r]))
      assert.deepEqual(
        [
          byAddress['late-stop@example.net']?.status,
          byAddress['late-stop@example.net']?.reason,
          byAddress['late-stop@example.net']?.attempts,
        ],
        ['suppressed', 'complaint', 0],
      )
      assert.equal(byAddress['late-go@example.net']?.status, 'sent')
      assert.deepEqual(
        settled.events.filter((e) => e.recipient === 'late-stop@example.net').map((e) => [e.type, e.data]),
        [
          ['email.scheduled', { next_attempt_at: settled.events[0]?.data.next_attempt_at }],
          ['email.suppressed', { reason: 'complaint' }],
        ],
      )
      assert.ok(!rcpts.includes('late-stop@example.net'))
      assert.deepEqual(
        await sql('SELECT count(*)::int AS n FROM delivery_attempts a JOIN recipients r ON r.id = a.recipient_id WHERE r.address = $1', [
          'late-stop@example.net',
        ]),
        [{ n: 0 }],
      )
    })

    it('at claim: when every due recipient is suppressed, nothing is claimed and the email becomes suppressed', async () => {
      const res = await h.send(basicEmail({ to: 'late-all@example.net', scheduled_at: inFuture(2_000) }))
      await add({ address: 'late-all@example.net' })
      const settled = await settle(res.body.id)
      assert.equal(settled.status, 'suppressed')
      assert.deepEqual(
        settled.events.map((e) => e.type),
        ['email.scheduled', 'email.suppressed'],
      )
      assert.ok(!rcpts.includes('late-all@example.net'))
    })

    it('over SMTP: a suppressed recipient is stored as suppressed and the rest sent; all suppressed is still 250', async () => {
      await add({ address: 'smtp-stop@example.net' })
      const queuedId = (response: string) => /queued as ([0-9a-f-]{36})/.exec(response)?.[1] as string
      const mixed = await smtpClient(h).sendMail({
        from: 'Sender <sender@example.com>',
        to: ['smtp-stop@example.net', 'smtp-go@example.net'],
        subject: 'mixed',
        text: 'hi',
      })
      assert.match(mixed.response, /^250/)
      const settled = await settle(queuedId(mixed.response))
      assert.equal(settled.status, 'partially_delivered')
      assert.deepEqual(settled.recipients.map((r) => [r.address, r.status]).sort(), [
        ['smtp-go@example.net', 'sent'],
        ['smtp-stop@example.net', 'suppressed'],
      ])
      const all = await smtpClient(h).sendMail({ from: 'sender@example.com', to: 'SMTP-STOP@example.net', subject: 'all', text: 'hi' })
      assert.match(all.response, /^250/)
      assert.equal((await email(queuedId(all.response))).status, 'suppressed')
      assert.ok(!rcpts.includes('smtp-stop@example.net'))
    })
  })

  // Driven directly, on a harness without a worker: nothing else claims or sweeps meanwhile.
  describe('statements other modules use', () => {
    let h: Harness
    before(async () => {
      h = await startHarness({ worker: false })
    })
    after(async () => {
      await h.close()
    })
    const sql = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> => {
      const db = new pg.Client({ connectionString: h.config.databaseUrl })
      await db.connect()
      try {
        return (await db.query<T>(text, values)).rows
      } finally {
        await db.end()
      }
    }

    it('insertSuppressions merges: renews an expired entry, upgrades manual, never shortens; findSuppressed folds and ignores expired', async () => {
      const accountId = h.accountId
      const pool = h.container.pool
      const soon = new Date(Date.now() + 60_000)
      assert.deepEqual(
        await insertSuppressions(pool, [
          { accountId, address: 'Merge-A@example.org', reason: 'manual', expiresAt: soon },
          { accountId, address: 'merge-b@example.org', reason: 'complaint' },
          { accountId, address: 'merge-c@example.org', reason: 'manual', stream: 'broadcast' },
          { accountId, address: 'merge-d@example.org', reason: 'hard_bounce', expiresAt: soon },
        ]),
        { created: 4, updated: 0 },
      )
      await sql(`UPDATE suppressions SET expires_at = now() - interval '1 second' WHERE address = 'merge-d@example.org'`)
      const result = await insertSuppressions(pool, [
        // manual → a feedback reason, and permanent
        { accountId, address: 'merge-a@example.org', reason: 'hard_bounce', source: { email_id: 'e1' } },
        // a complaint stays a complaint, and permanent stays permanent
        { accountId, address: 'merge-b@example.org', reason: 'manual', expiresAt: soon },
        // expired → renewed
        { accountId, address: 'merge-d@example.org', reason: 'manual', expiresAt: new Date(Date.now() + 120_000) },
      ])
      assert.deepEqual(result, { created: 1, updated: 1 })
      const rows = await sql<{ address: string; reason: string; source: unknown; expires_at: Date | null }>(
        `SELECT address, reason, source, expires_at FROM suppressions WHERE address LIKE 'merge-%' ORDER BY address`,
      )
      assert.deepEqual(
        rows.map((r) => [r.address, r.reason, r.source, r.expires_at === null]),
        [
          ['merge-a@example.org', 'hard_bounce', { email_id: 'e1' }, true],
          ['merge-b@example.org', 'complaint', {}, true],
          ['merge-c@example.org', 'manual', {}, true],
          ['merge-d@example.org', 'manual', {}, false],
        ],
      )

      await sql(`UPDATE suppressions SET expires_at = now() - interval '1 second' WHERE address = 'merge-d@example.org'`)
      const found = await findSuppressed(
        pool,
        accountId,
        ['MERGE-A@example.org', 'merge-b@example.org', 'merge-c@example.org', 'merge-d@example.org', 'nobody@example.org'],
        'transactional',
      )
      assert.deepEqual(
        [...found],
        [
          ['MERGE-A@example.org', 'hard_bounce'],
          ['merge-b@example.org', 'complaint'],
        ],
      )
      const broadcast = await findSuppressed(pool, accountId, ['merge-c@example.org'], 'broadcast')
      assert.deepEqual([...broadcast], [['merge-c@example.org', 'manual']])
    })

    it('the claim settles a takeover of a suppressed recipient too: no new attempt, the dead one closed', async () => {
      const res = await h.send(basicEmail({ to: 'takeover-stop@example.net', scheduled_at: inFuture(600_000) }))
      const [row] = await sql<{ delivery_id: string; id: string }>('SELECT delivery_id, id FROM recipients WHERE email_id = $1', [
        res.body.id,
      ])
      assert.ok(row)
      // As if a worker had claimed it for attempt 1 and died: sending, its lease lapsed, its attempt open.
      await sql(
        `UPDATE recipients SET status = 'sending', reason = 'sending', attempt_count = 1, lease_until = now() - interval '1 second',
                next_attempt_at = now() - interval '1 second' WHERE id = $1`,
        [row.id],
      )
      await sql(`INSERT INTO delivery_attempts (id, recipient_id, email_id, number) VALUES (gen_random_uuid(), $1, $2, 1)`, [
        row.id,
        res.body.id,
      ])
      await h.request('POST', '/v1/suppressions', { payload: { address: 'takeover-stop@example.net' } })
      const repository = createDeliveryRepository(h.container.pool, { leaseMs: 60_000 })
      const claim = await repository.claim([{ deliveryId: row.delivery_id, attempt: 2 }])
      assert.deepEqual(claim.recipients, [])
      assert.deepEqual(claim.quiet, [res.body.id])
      // As the worker does after every claim that returns quiet emails.
      await repository.refreshStatuses(claim.quiet)
      const stored = (await h.getEmail(res.body.id)) as Email
      assert.equal(stored.status, 'suppressed')
      assert.deepEqual(
        stored.recipients.map((r) => [r.status, r.reason, r.attempts]),
        [['suppressed', 'manual', 1]],
      )
      const attempts = await sql<{ outcome: string | null }>('SELECT outcome FROM delivery_attempts WHERE recipient_id = $1', [row.id])
      assert.deepEqual(attempts, [{ outcome: 'abandoned' }])
    })

    it('addresses fold the same in TypeScript and in SQL, whatever the letters', async () => {
      const samples = [
        'Ada@Example.COM',
        'ÉLODIE@exemple.fr',
        'Straße.ß@xn--bcher-kva.example',
        '"Quoted Name"@EXAMPLE.org',
        'İstanbul@x.tr',
      ]
      const rows = await sql<{ folded: string }>(
        `SELECT ${foldAddressSql('a')} AS folded FROM unnest($1::text[]) WITH ORDINALITY AS t(a, n) ORDER BY n`,
        [samples],
      )
      assert.deepEqual(
        rows.map((r) => r.folded),
        samples.map(foldAddress),
      )
      assert.equal(foldAddress('ÉLODIE@exemple.fr'), 'Élodie@exemple.fr', 'only ASCII letters fold')
    })
  })
})
