import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import SMTPConnection from 'nodemailer/lib/smtp-connection'
import { buildApp } from '../../src/entrypoints/api.js'
import { OPERATOR_MAX_FAILURES } from '../../src/http/plugins/operator-auth.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness, workerEnv } from '../helpers/harness.js'
import { spawnHikyaku } from '../helpers/processes.js'
import { smtpClient } from '../helpers/smtp-client.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

// 40 random characters from the base64url alphabet: a strong secret as the configuration requires.
const OPERATOR_TOKEN = randomBytes(30).toString('base64url')
const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000'

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

/**
 * The operator API (/v1/operator, OPERATOR_TOKEN) and the account commands of the CLI, against
 * real Postgres, Redis, SMTP submission and a loopback SMTP sink.
 */
describe('operator API', () => {
  let sink: Sink
  let h: Harness

  before(async () => {
    sink = await startSink()
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url, OPERATOR_TOKEN }, smtp: true })
  })
  after(async () => {
    await h?.close()
    await sink?.close()
  })

  /** A request through `app` (the harness's by default) with the operator token unless `token` says otherwise. */
  async function call(method: Method, url: string, options: { payload?: object; token?: string | null; app?: FastifyInstance } = {}) {
    const token = options.token === undefined ? OPERATOR_TOKEN : options.token
    const res = await (options.app ?? h.app).inject({
      method,
      url,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      ...(options.payload ? { payload: options.payload } : {}),
    })
    // biome-ignore lint/suspicious/noExplicitAny: tests read the JSON they asserted the shape of
    return { status: res.statusCode, body: (res.body ? res.json() : undefined) as any, headers: res.headers }
  }

  const asKey = (key: string) => ({ authorization: `Bearer ${key}` })
  const sendAs = (key: string, body: Record<string, unknown>) => h.request('POST', '/v1/emails', { payload: body, headers: asKey(key) })

  /** A new account through the API: its id and first key. */
  async function createAccount(name: string): Promise<{ id: string; key: string }> {
    const res = await call('POST', '/v1/operator/accounts', { payload: { name } })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    return { id: res.body.account.id, key: res.body.key }
  }

  const assertError = (
    res: { status: number; body: { error?: { code: string; message: string }; request_id?: string } },
    status: number,
    code: string,
  ) => {
    assert.equal(res.status, status, JSON.stringify(res.body))
    assert.equal(res.body.error?.code, code)
    assert.equal(typeof res.body.error?.message, 'string')
    assert.equal(typeof res.body.request_id, 'string')
  }

  it('is off without OPERATOR_TOKEN: 404 on every route, while the account API works', async () => {
    // The same services, a configuration without the token: no second database needed.
    const off = await buildApp({ ...h.container, config: { ...h.config, operatorToken: undefined } })
    try {
      await off.ready()
      for (const [method, url] of [
        ['GET', '/v1/operator/accounts'],
        ['POST', '/v1/operator/accounts'],
        ['GET', `/v1/operator/accounts/${h.accountId}`],
        ['POST', `/v1/operator/accounts/${h.accountId}/suspend`],
        ['PUT', `/v1/operator/accounts/${h.accountId}/quotas/broadcast`],
      ] as Array<[Method, string]>) {
        const res = await call(method, url, { app: off, payload: method === 'GET' ? undefined : { name: 'x', reason: 'x', day: 1 } })
        assertError(res, 404, 'not_found')
        assert.match(res.body.error.message, /operator API is off/)
      }
      const account = await off.inject({ method: 'GET', url: '/v1/account', headers: h.auth })
      assert.equal(account.statusCode, 200)
    } finally {
      await off.close()
    }
  })

  it('401 for a missing, malformed or wrong token and for an API key; the operator token opens no account route', async () => {
    assertError(await call('GET', '/v1/operator/accounts', { token: null }), 401, 'unauthorized')
    const malformed = await h.app.inject({ method: 'GET', url: '/v1/operator/accounts', headers: { authorization: OPERATOR_TOKEN } })
    assert.equal(malformed.statusCode, 401)
    assert.equal(malformed.json().error.code, 'unauthorized')
    // Same length, one character different: refused all the same.
    const wrong = `${OPERATOR_TOKEN.slice(0, -1)}${OPERATOR_TOKEN.endsWith('A') ? 'B' : 'A'}`
    assertError(await call('GET', '/v1/operator/accounts', { token: wrong }), 401, 'unauthorized')
    const withKey = await call('POST', '/v1/operator/accounts', { token: h.key, payload: { name: 'Sneaky' } })
    assertError(withKey, 401, 'unauthorized')
    assert.match(withKey.body.error.message, /never an API key/)

    for (const url of ['/v1/account', '/v1/api-keys']) {
      const res = await h.request('GET', url, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })
      assertError(res, 401, 'unauthorized')
    }
    assertError(await h.request('POST', '/v1/emails', { payload: basicEmail(), headers: asKey(OPERATOR_TOKEN) }), 401, 'unauthorized')
  })

  it(`an address that keeps guessing is refused (429) after ${OPERATOR_MAX_FAILURES} wrong tokens; the right token still works`, async () => {
    // A fresh app: its own count of failures, so the harness's app stays usable.
    const guarded = await buildApp(h.container)
    try {
      await guarded.ready()
      for (let i = 0; i < OPERATOR_MAX_FAILURES; i++) {
        assertError(
          await call('GET', '/v1/operator/accounts', { app: guarded, token: `guess-${i}-${OPERATOR_TOKEN}` }),
          401,
          'unauthorized',
        )
      }
      const blocked = await call('GET', '/v1/operator/accounts', { app: guarded, token: `guess-again-${OPERATOR_TOKEN}` })
      assertError(blocked, 429, 'rate_limited')
      assert.ok(Number(blocked.headers['retry-after']) > 0)
      assert.equal(
        (await call('GET', '/v1/operator/accounts', { app: guarded })).status,
        200,
        'guessing from the operator’s own address (a proxy’s) cannot lock the operator out',
      )
    } finally {
      await guarded.close()
    }
    assert.equal((await call('GET', '/v1/operator/accounts')).status, 200, 'another app (process) is not affected')
  })

  it('creates an account whose first key is full-access and sends; names are checked', async () => {
    const res = await call('POST', '/v1/operator/accounts', { payload: { name: '  Example Shop K.K.  ' } })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    const { account, key, api_key: apiKey } = res.body
    assert.equal(account.name, 'Example Shop K.K.', 'trimmed')
    assert.equal(account.suspended, false)
    assert.equal(account.suspended_at, null)
    assert.equal(account.suspended_reason, null)
    assert.deepEqual(account.quotas, {})
    assert.match(key, /^hk_[A-Za-z0-9]{12}_[A-Za-z0-9]{40}$/)
    assert.equal(apiKey.scope, 'full')
    assert.equal(apiKey.hint, `${key.slice(0, 15)}_…`)

    const sent = await sendAs(key, basicEmail({ to: 'first@example.net' }))
    assert.equal(sent.status, 202, JSON.stringify(sent.body))
    const own = await h.request('GET', '/v1/account', { headers: asKey(key) })
    assert.equal(own.body.id, account.id)

    for (const name of ['', '   ', 'two\nlines', 'bell\u0007', 'x'.repeat(201)]) {
      const bad = await call('POST', '/v1/operator/accounts', { payload: { name } })
      assertError(bad, 422, 'validation_failed')
      assert.equal(bad.body.error.details[0].path, '/name', JSON.stringify(bad.body))
    }
    assertError(await call('POST', '/v1/operator/accounts', { payload: { name: 'x', plan: 'gold' } }), 422, 'validation_failed')
    assertError(await call('POST', '/v1/operator/accounts', { payload: {} }), 422, 'validation_failed')
    // Operator bodies are small: far below the limit mail needs.
    assertError(await call('POST', '/v1/operator/accounts', { payload: { name: 'x'.repeat(20_000) } }), 413, 'payload_too_large')
  })

  it('lists newest first, searches names in any case, and pages by cursor', async () => {
    const alpha = await createAccount('Alpha Trading')
    const alpha2 = await createAccount('alpha_rocket 100%')
    await createAccount('Beta Works')

    const found = await call('GET', '/v1/operator/accounts?q=ALPHA')
    assert.equal(found.status, 200, JSON.stringify(found.body))
    assert.deepEqual(
      found.body.data.map((a: { id: string }) => a.id),
      [alpha2.id, alpha.id],
    )
    // % and _ are characters, not patterns.
    const percent = await call('GET', `/v1/operator/accounts?q=${encodeURIComponent('%')}`)
    assert.deepEqual(
      percent.body.data.map((a: { id: string }) => a.id),
      [alpha2.id],
    )
    assert.deepEqual((await call('GET', '/v1/operator/accounts?q=a_r')).body.data.length, 1)
    assert.deepEqual((await call('GET', '/v1/operator/accounts?q=nothing-like-it')).body, { data: [], next_cursor: null })

    const all = await call('GET', '/v1/operator/accounts?limit=100')
    const ids: string[] = all.body.data.map((a: { id: string }) => a.id)
    assert.ok(ids.length >= 5, `the harness's account and those created here, got ${ids.length}`)
    assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first')
    assert.ok(ids.includes(h.accountId))

    const paged: string[] = []
    let cursor: string | null = null
    for (let page = 0; page < 20; page++) {
      const res = await call('GET', `/v1/operator/accounts?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.ok(res.body.data.length <= 2)
      paged.push(...res.body.data.map((a: { id: string }) => a.id))
      cursor = res.body.next_cursor
      if (!cursor) break
    }
    assert.deepEqual(paged, ids, 'pages walk the whole list once')

    assertError(await call('GET', '/v1/operator/accounts?limit=0'), 422, 'validation_failed')
    assertError(await call('GET', '/v1/operator/accounts?limit=101'), 422, 'validation_failed')
    assertError(await call('GET', '/v1/operator/accounts?cursor=bogus'), 422, 'validation_failed')
    assertError(await call('GET', `/v1/operator/accounts?q=${'x'.repeat(201)}`), 422, 'validation_failed')

    const one = await call('GET', `/v1/operator/accounts/${alpha.id}`)
    assert.equal(one.status, 200)
    assert.equal(one.body.name, 'Alpha Trading')
    assertError(await call('GET', `/v1/operator/accounts/${UNKNOWN_ID}`), 404, 'not_found')
    assertError(await call('GET', '/v1/operator/accounts/not-a-uuid'), 422, 'validation_failed')
  })

  it("suspension refuses the account's keys at once (HTTP and SMTP) and holds its queued mail until lifted", async () => {
    const acct = await createAccount('Suspended Soon')
    // Mail queued before the suspension, due in 3 s: the suspension is committed long before.
    const at = new Date(Date.now() + 3_000)
    const held = await sendAs(acct.key, basicEmail({ to: 'held@example.net', scheduled_at: at.toISOString() }))
    assert.equal(held.status, 202, JSON.stringify(held.body))
    // An SMTP session logged in before the suspension.
    const session = new SMTPConnection({ host: '127.0.0.1', port: h.smtp!.smtpPort, requireTLS: true, tls: { rejectUnauthorized: false } })
    await new Promise<void>((resolve, reject) => {
      session.once('error', reject)
      session.connect(() => resolve())
    })
    await new Promise<void>((resolve, reject) =>
      session.login({ user: 'apikey', pass: acct.key }, (err) => (err ? reject(err) : resolve())),
    )

    const suspended = await call('POST', `/v1/operator/accounts/${acct.id}/suspend`, {
      payload: { reason: 'Complaints from a spam trap (ticket 42)' },
    })
    assert.equal(suspended.status, 200, JSON.stringify(suspended.body))
    const suspendedAt = Date.now()
    assert.equal(suspended.body.suspended, true)
    assert.equal(suspended.body.suspended_reason, 'Complaints from a spam trap (ticket 42)')
    assert.ok(suspended.body.suspended_at)

    // The very next request is refused: no cache to wait out.
    const refused = await sendAs(acct.key, basicEmail({ to: 'new@example.net' }))
    assertError(refused, 403, 'account_suspended')
    assert.match(refused.body.error.message, /suspended/)
    assert.match(refused.body.error.message, /operator/)
    assert.ok(!refused.body.error.message.includes('ticket 42'), 'the reason stays with the operator')
    assert.ok(Date.now() - suspendedAt < 2_000, 'refused within a bounded time')
    assertError(await h.request('GET', '/v1/account', { headers: asKey(acct.key) }), 403, 'account_suspended')
    assertError(await h.request('GET', `/v1/emails/${held.body.id}`, { headers: asKey(acct.key) }), 403, 'account_suspended')
    // A wrong secret for the same key id is still just 401: suspension is told only to the key's holder.
    const forged = `${acct.key.slice(0, -1)}${acct.key.endsWith('A') ? 'B' : 'A'}`
    assertError(await sendAs(forged, basicEmail()), 401, 'unauthorized')
    // Other accounts are not affected.
    assert.equal((await h.send(basicEmail({ to: 'other@example.net' }))).status, 202)

    // SMTP: a new login gets 535, the open session's next message 550.
    await assert.rejects(
      smtpClient(h, { pass: acct.key }).sendMail({
        envelope: { from: 'sender@example.com', to: ['x@example.net'] },
        raw: 'Subject: x\r\n\r\nx\r\n',
      }),
      (err: Error & { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 535, String(err.response))
        assert.match(String(err.response), /suspended/)
        return true
      },
    )
    await assert.rejects(
      new Promise((resolve, reject) =>
        session.send({ from: 'sender@example.com', to: ['y@example.net'] }, 'Subject: y\r\n\r\ny\r\n', (err, info) =>
          err ? reject(err) : resolve(info),
        ),
      ),
      (err: Error & { responseCode?: number; response?: string }) => {
        assert.equal(err.responseCode, 550, String(err.response))
        assert.match(String(err.response), /suspended/)
        return true
      },
    )
    session.quit()

    // Idempotent: again keeps the first time, takes the new reason.
    const again = await call('POST', `/v1/operator/accounts/${acct.id}/suspend`, { payload: { reason: 'Still under review' } })
    assert.equal(again.status, 200)
    assert.equal(again.body.suspended_at, suspended.body.suspended_at)
    assert.equal(again.body.suspended_reason, 'Still under review')
    for (const reason of ['', '  ', 'a\r\nb', 'r'.repeat(501)]) {
      assertError(await call('POST', `/v1/operator/accounts/${acct.id}/suspend`, { payload: { reason } }), 422, 'validation_failed')
    }
    assertError(await call('POST', `/v1/operator/accounts/${acct.id}/suspend`, { payload: {} }), 422, 'validation_failed')
    assertError(await call('POST', `/v1/operator/accounts/${UNKNOWN_ID}/suspend`, { payload: { reason: 'x' } }), 404, 'not_found')

    // Past its time, and past the sweeps that would re-dispatch it: still held, never at the sink.
    await sleep(Math.max(0, at.getTime() + 3_000 - Date.now()))
    const recipient = async () =>
      (
        await h.container.pool.query<{ status: string; attempt_count: number }>(
          'SELECT status, attempt_count FROM recipients WHERE email_id = $1',
          [held.body.id],
        )
      ).rows[0]
    const waiting = await recipient()
    assert.ok(waiting && ['queued', 'scheduled'].includes(waiting.status), `held, got ${JSON.stringify(waiting)}`)
    assert.equal(waiting.attempt_count, 0, 'never claimed')
    assert.equal(sink.received.filter((m) => m.to.includes('held@example.net')).length, 0, 'nothing reached SMTP while suspended')

    const lifted = await call('POST', `/v1/operator/accounts/${acct.id}/unsuspend`)
    assert.equal(lifted.status, 200, JSON.stringify(lifted.body))
    assert.equal(lifted.body.suspended, false)
    assert.equal(lifted.body.suspended_at, null)
    assert.equal(lifted.body.suspended_reason, null)
    assert.equal((await call('POST', `/v1/operator/accounts/${acct.id}/unsuspend`)).status, 200, 'idempotent')
    assertError(await call('POST', `/v1/operator/accounts/${UNKNOWN_ID}/unsuspend`), 404, 'not_found')

    assert.equal((await h.request('GET', '/v1/account', { headers: asKey(acct.key) })).status, 200, 'the key works again')
    await waitFor(
      'the held mail to be delivered',
      async () => {
        const email = await h.request('GET', `/v1/emails/${held.body.id}`, { headers: asKey(acct.key) })
        return email.body.status === 'sent' ? email : undefined
      },
      15_000,
      100,
    )
    assert.equal(sink.received.filter((m) => m.to.includes('held@example.net')).length, 1)
  })

  it('sets, replaces and clears quotas per stream; a quota is enforced on sends', async () => {
    const acct = await createAccount('Quota Co')
    const url = (stream: string) => `/v1/operator/accounts/${acct.id}/quotas/${stream}`
    const set = await call('PUT', url('broadcast'), { payload: { day: 0, month: 100 } })
    assert.equal(set.status, 200, JSON.stringify(set.body))
    assert.deepEqual(set.body, { account_id: acct.id, quotas: { broadcast: { day: 0, month: 100 } } })
    const over = await sendAs(acct.key, basicEmail({ stream: 'broadcast' }))
    assertError(over, 429, 'rate_limited')
    assert.equal((await sendAs(acct.key, basicEmail())).status, 202, 'transactional is not limited')

    // PUT replaces: the month left out is no longer set.
    const replaced = await call('PUT', url('broadcast'), { payload: { day: 10 } })
    assert.deepEqual(replaced.body.quotas, { broadcast: { day: 10 } })
    await call('PUT', url('transactional'), { payload: { month: 5_000 } })
    assert.deepEqual((await call('GET', `/v1/operator/accounts/${acct.id}`)).body.quotas, {
      broadcast: { day: 10 },
      transactional: { month: 5_000 },
    })

    const unknown = await call('PUT', url('newsletters'), { payload: { day: 1 } })
    assertError(unknown, 422, 'validation_failed')
    assert.match(unknown.body.error.message, /not a configured stream.*transactional, broadcast/)
    assertError(await call('PUT', url('Bad!'), { payload: { day: 1 } }), 422, 'validation_failed')
    assertError(await call('PUT', url('broadcast'), { payload: {} }), 422, 'validation_failed')
    assertError(await call('PUT', url('broadcast'), { payload: { day: -1 } }), 422, 'validation_failed')
    assertError(await call('PUT', url('broadcast'), { payload: { day: 1.5 } }), 422, 'validation_failed')
    assertError(await call('PUT', url('broadcast'), { payload: { week: 1 } }), 422, 'validation_failed')
    assertError(await call('PUT', `/v1/operator/accounts/${UNKNOWN_ID}/quotas/broadcast`, { payload: { day: 1 } }), 404, 'not_found')

    const cleared = await call('DELETE', url('broadcast'))
    assert.equal(cleared.status, 200, JSON.stringify(cleared.body))
    assert.deepEqual(cleared.body.quotas, { transactional: { month: 5_000 } })
    assert.equal((await call('DELETE', url('broadcast'))).status, 200, 'clearing twice is fine')
    assert.equal((await sendAs(acct.key, basicEmail({ stream: 'broadcast' }))).status, 202, "the stream's default applies again")
  })

  it('creates API keys for an account, full or send-only', async () => {
    const acct = await createAccount('Keys Ltd')
    const res = await call('POST', `/v1/operator/accounts/${acct.id}/keys`, { payload: { scope: 'send', name: 'ci' } })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    assert.equal(res.body.api_key.scope, 'send')
    assert.equal(res.body.api_key.name, 'ci')
    assert.equal((await sendAs(res.body.key, basicEmail())).status, 202)
    assertError(await h.request('GET', '/v1/api-keys', { headers: asKey(res.body.key) }), 403, 'forbidden')

    const full = await call('POST', `/v1/operator/accounts/${acct.id}/keys`, { payload: { scope: 'full' } })
    assert.equal(full.status, 201)
    const listed = await h.request('GET', '/v1/api-keys', { headers: asKey(full.body.key) })
    assert.equal(listed.status, 200)
    assert.equal(listed.body.data.length, 3, 'the first key and the two made here')

    assertError(await call('POST', `/v1/operator/accounts/${acct.id}/keys`, { payload: {} }), 422, 'validation_failed')
    assertError(await call('POST', `/v1/operator/accounts/${acct.id}/keys`, { payload: { scope: 'admin' } }), 422, 'validation_failed')
    assertError(await call('POST', `/v1/operator/accounts/${UNKNOWN_ID}/keys`, { payload: { scope: 'send' } }), 404, 'not_found')
  })

  describe('the CLI', () => {
    const BOUND_MS = 60_000

    async function hikyaku(args: string[]): Promise<{ code: number | null; output: string }> {
      const run = spawnHikyaku(args, workerEnv(h))
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), BOUND_MS)
      })
      const code = await Promise.race([run.exited, timedOut])
      clearTimeout(timer)
      if (code === 'timeout') {
        run.child.kill('SIGKILL')
        assert.fail(`hikyaku ${args.join(' ')} was still running after ${BOUND_MS} ms:\n${run.output()}`)
      }
      return { code, output: run.output() }
    }

    it('lists, suspends and unsuspends accounts', async () => {
      const acct = await createAccount('Cli Gamma Corp')
      const [listed, searched, suspended] = await Promise.all([
        hikyaku(['accounts', 'list', '--json']),
        hikyaku(['accounts', 'list', '--search', 'gamma']),
        hikyaku(['accounts', 'suspend', '--account', acct.id, '--reason', 'Unpaid invoice']),
      ])
      assert.equal(listed.code, 0, listed.output)
      const all = JSON.parse(listed.output) as Array<{ id: string; name: string; suspended: boolean }>
      assert.ok(all.some((a) => a.id === acct.id && a.name === 'Cli Gamma Corp'))
      assert.ok(all.some((a) => a.id === h.accountId))

      assert.equal(searched.code, 0, searched.output)
      const lines = searched.output.trim().split('\n')
      assert.equal(lines.length, 1, searched.output)
      assert.match(lines[0] as string, new RegExp(`^${acct.id} +(active|suspended) +\\d{4}-\\d{2}-\\d{2} +Cli Gamma Corp$`))

      assert.equal(suspended.code, 0, suspended.output)
      assert.equal(JSON.parse(suspended.output).suspended_reason, 'Unpaid invoice')
      assertError(await h.request('GET', '/v1/account', { headers: asKey(acct.key) }), 403, 'account_suspended')

      const [unsuspended, unknown] = await Promise.all([
        hikyaku(['accounts', 'unsuspend', '--account', acct.id]),
        hikyaku(['accounts', 'suspend', '--account', UNKNOWN_ID, '--reason', 'x']),
      ])
      assert.equal(unsuspended.code, 0, unsuspended.output)
      assert.equal(JSON.parse(unsuspended.output).suspended, false)
      assert.equal((await h.request('GET', '/v1/account', { headers: asKey(acct.key) })).status, 200)
      assert.equal(unknown.code, 1, unknown.output)
      assert.match(unknown.output, /^hikyaku: Account not found$/m)
      assert.ok(!unknown.output.includes('    at '), 'no stack trace for an unknown account')
    })
  })
})
