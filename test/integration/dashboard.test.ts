import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { startWebhooks } from '../../src/entrypoints/webhooks.js'
import { startDnsServer } from '../helpers/dns-server.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness } from '../helpers/harness.js'
import { freePort } from '../helpers/processes.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * The dashboard in headless Chromium against a live Hikyaku (real HTTP listener, worker in MX mode
 * with a loopback DNS server, webhook sender, SMTP sink as the recipients' MX, webhook receiver):
 * sign in, watch a send reach `delivered`, read its
 * timeline, add and remove a suppression, replay a webhook, sign out; another account sees
 * nothing of this one; a change without the CSRF token is refused.
 */
describe('the web dashboard in a real browser', () => {
  let sink: Sink
  let h: Harness
  let base: string
  let browser: Browser
  let stopWebhooks: () => Promise<void>
  let receiver: http.Server
  let dns: Awaited<ReturnType<typeof startDnsServer>>
  const hooks: Array<{ id: string; type: string }> = []

  before(async () => {
    // npm test installs it (scripts/ensure-chromium.sh); without it this suite fails rather than pass unseen.
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: run scripts/ensure-chromium.sh or set CHROMIUM_PATH`)
    const port = await freePort()
    sink = await startSink({}, { port })
    dns = await startDnsServer({
      'example.net': { MX: [{ priority: 10, exchange: 'mx.example.net' }] },
      'mx.example.net': { A: ['127.0.0.1'] },
    })
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { type: string }
        hooks.push({ id: String(req.headers['webhook-id']), type: body.type })
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    h = await startHarness({
      env: {
        DELIVERY_MODE: 'mx',
        MX_PORT: String(port),
        MX_ALLOW_PRIVATE: 'true',
        DNS_SERVERS: dns.server,
        DNS_TIMEOUT: '1s',
        WEBHOOK_ALLOW_PRIVATE: 'true',
        SWEEP_INTERVAL: '1s',
      },
    })
    stopWebhooks = await startWebhooks(h.container)
    await h.app.listen({ host: '127.0.0.1', port: 0 })
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  })
  after(async () => {
    await browser?.close()
    await stopWebhooks?.()
    await h?.close()
    await sink?.close()
    await dns?.close()
    receiver?.close()
  })

  const signIn = async (context: BrowserContext, key: string): Promise<Page> => {
    const page = await context.newPage()
    await page.goto(`${base}/dashboard`)
    assert.match(page.url(), /\/dashboard\/login$/, 'signed out, the dashboard sends you to sign in')
    await page.getByLabel('Full-scope API key').fill(key)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${base}/dashboard`)
    return page
  }

  it('signs in, follows a send to its end, manages suppressions, replays a webhook and signs out', async () => {
    const endpoint = await h.request('POST', '/v1/webhooks', {
      payload: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` },
    })
    assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body))
    const context = await browser.newContext()
    const page = await signIn(context, h.key)
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Overview')
    const cookie = (await context.cookies()).find((c) => c.name === 'hikyaku_session')
    assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite')

    const sent = await h.send(basicEmail({ to: 'reader@example.net', subject: 'Dashboard hello' }))
    assert.equal(sent.status, 202)
    await page.getByRole('link', { name: 'Emails' }).click()
    await page.getByRole('link', { name: 'Dashboard hello' }).click()
    // The page reloads itself while the email is in progress; it ends delivered (the MX said 250).
    await waitFor(
      'the email page to show it delivered',
      async () => ((await page.locator('main p .status').first().textContent()) === 'delivered' ? true : undefined),
      20_000,
      250,
    )
    const attempts = await page.locator('ol.timeline').first().textContent()
    assert.match(attempts ?? '', /250/, 'the timeline shows the remote reply')
    await page.getByRole('link', { name: 'Raw message' }).click()
    assert.match((await page.locator('pre').textContent()) ?? '', /Subject: Dashboard hello/)

    await page.getByRole('link', { name: 'Suppressions' }).click()
    await page.getByLabel('Address', { exact: true }).fill('nope@example.org')
    await page.getByRole('button', { name: 'Suppress' }).click()
    await page.getByText('The address is suppressed.').waitFor()
    assert.equal((await h.request('GET', '/v1/suppressions/nope@example.org')).status, 200)
    await page.getByRole('button', { name: 'Remove nope@example.org' }).click()
    await page.getByText('The suppression is removed.').waitFor()
    assert.equal((await h.request('GET', '/v1/suppressions/nope@example.org')).status, 404)

    await waitFor(
      'the webhook receiver to get the events',
      () => (hooks.some((e) => e.type === 'email.delivered') ? true : undefined),
      15_000,
    )
    await page.getByRole('link', { name: 'Webhooks' }).click()
    await page.getByRole('link', { name: /\/hook$/ }).click()
    const sentEvent = hooks.find((e) => e.type === 'email.delivered')?.id as string
    const before = hooks.filter((e) => e.id === sentEvent).length
    await page.getByRole('button', { name: `Send event ${sentEvent} again` }).click()
    await page.getByText('The event is queued for the endpoint again.').waitFor()
    await waitFor(
      'the replayed event at the receiver',
      () => (hooks.filter((e) => e.id === sentEvent).length > before ? true : undefined),
      15_000,
    )

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(`${base}/dashboard/login`)
    await page.goto(`${base}/dashboard/emails`)
    assert.match(page.url(), /\/dashboard\/login$/, 'the session is gone')
    await context.close()
  })

  it('has no serious accessibility violations on any page, on a desktop and on a phone (axe-core)', async () => {
    const id = (await h.send(basicEmail({ to: 'a11y@example.net', subject: 'Accessible' }))).body.id as string
    await h.waitForEmail(id, (e) => e.status === 'delivered')
    const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
    const pages = [
      '/dashboard',
      '/dashboard/emails',
      `/dashboard/emails/${id}`,
      `/dashboard/emails/${id}/raw`,
      '/dashboard/campaigns',
      '/dashboard/suppressions',
      '/dashboard/domains',
      '/dashboard/webhooks',
      '/dashboard/keys',
      '/dashboard/destinations',
      '/dashboard/login',
    ]
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      // The pages forbid every script (CSP); the checker is let in for the test only.
      const context = await browser.newContext({ bypassCSP: true, viewport })
      const page = await signIn(context, h.key)
      for (const path of pages) {
        await page.goto(`${base}${path}`)
        await page.addScriptTag({ content: axe })
        const violations = await page.evaluate(async () => {
          const result = await (
            globalThis as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; nodes: unknown[] }> }> } }
          ).axe.run()
          return result.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => `${v.id} (${v.nodes.length})`)
        })
        assert.deepEqual(violations, [], `${path} at ${viewport.width}px`)
      }
      await context.close()
    }
  })

  it("shows another account none of this account's data", async () => {
    const mine = await h.send(basicEmail({ to: 'private@example.net', subject: 'Only mine' }))
    const other = await h.container.services.accounts.create('Other account')
    const context = await browser.newContext()
    const page = await signIn(context, other.key)
    await page.goto(`${base}/dashboard/emails`)
    assert.equal(await page.getByText('Only mine').count(), 0)
    const direct = await page.goto(`${base}/dashboard/emails/${mine.body.id}`)
    assert.equal(direct?.status(), 404)
    await context.close()
  })

  it("refuses forged changes: a foreign origin, another session's token, another account's email; a bad cookie is no session", async () => {
    const csrfOf = async (page: Page) => (await page.locator('input[name="_csrf"]').first().getAttribute('value')) as string
    const mine = await h.send(basicEmail({ to: 'later@example.net', scheduled_at: new Date(Date.now() + 3_600_000).toISOString() }))
    const a = await browser.newContext()
    const pageA = await signIn(a, h.key)
    const tokenA = await csrfOf(pageA)
    const post = (page: Page, path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
      page.request.post(`${base}${path}`, { form, headers, maxRedirects: 0 }).then((r) => r.status())

    assert.equal(
      await post(pageA, '/dashboard/suppressions', { _csrf: tokenA, address: 'x1@example.org' }, { origin: 'https://evil.example' }),
      403,
    )
    assert.equal(
      await post(pageA, '/dashboard/suppressions', { _csrf: tokenA, address: 'x2@example.org' }, { 'sec-fetch-site': 'same-site' }),
      403,
    )
    const b = await browser.newContext()
    const pageB = await signIn(b, h.key)
    assert.equal(await post(pageA, '/dashboard/suppressions', { _csrf: await csrfOf(pageB), address: 'x3@example.org' }), 403)
    for (const address of ['x1@example.org', 'x2@example.org', 'x3@example.org']) {
      assert.equal((await h.request('GET', `/v1/suppressions/${address}`)).status, 404, `${address} was not added`)
    }
    assert.equal(await post(pageA, '/dashboard/suppressions', { _csrf: tokenA, address: 'x4@example.org' }), 303, 'the real form works')

    const other = await h.container.services.accounts.create('Third account')
    const c = await browser.newContext()
    const pageC = await signIn(c, other.key)
    assert.equal(await post(pageC, `/dashboard/emails/${mine.body.id}/cancel`, { _csrf: await csrfOf(pageC) }), 404)
    assert.equal((await h.getEmail(mine.body.id)).status, 'scheduled', "another account cannot cancel this account's email")
    assert.equal((await pageC.goto(`${base}/dashboard/emails/${mine.body.id}/raw`))?.status(), 404)

    const bad = await fetch(`${base}/dashboard/emails`, { headers: { cookie: 'hikyaku_session=%E0%A4%A' }, redirect: 'manual' })
    assert.equal(bad.status, 303, 'a malformed cookie is no session, not an error')
    await Promise.all([a.close(), b.close(), c.close()])
  })

  it('ends a session when its key is revoked', async () => {
    const created = await h.request('POST', '/v1/api-keys', { payload: { scope: 'full', name: 'short-lived' } })
    assert.equal(created.status, 201)
    const context = await browser.newContext()
    const page = await signIn(context, created.body.key)
    assert.equal((await h.request('DELETE', `/v1/api-keys/${created.body.api_key.id}`)).status, 200)
    await page.goto(`${base}/dashboard/emails`)
    assert.match(page.url(), /\/dashboard\/login$/, 'signed out at once')
    await context.close()
  })

  it('refuses a change without the CSRF token, and a send-only key', async () => {
    const context = await browser.newContext()
    const page = await signIn(context, h.key)
    const refused = await page.request.post(`${base}/dashboard/suppressions`, { form: { address: 'forged@example.org' }, maxRedirects: 0 })
    assert.equal(refused.status(), 403)
    assert.equal((await h.request('GET', '/v1/suppressions/forged@example.org')).status, 404)
    await context.close()

    const sendOnly = await h.request('POST', '/v1/api-keys', { payload: { scope: 'send' } })
    const other = await browser.newContext()
    const login = await other.newPage()
    await login.goto(`${base}/dashboard/login`)
    await login.getByLabel('Full-scope API key').fill(sendOnly.body.key)
    await login.getByRole('button', { name: 'Sign in' }).click()
    await login.getByText('sign in to the dashboard with a full-scope key').waitFor()
    await other.close()
  })
})

describe('the dashboard over HTTPS (PUBLIC_URL https:)', () => {
  it('names its cookie __Host-, Secure, for the whole site and no domain', async () => {
    const h = await startHarness({ worker: false, env: { PUBLIC_URL: 'https://mail.example.com' } })
    try {
      const res = await h.app.inject({
        method: 'POST',
        url: '/dashboard/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://mail.example.com' },
        payload: new URLSearchParams({ api_key: h.key }).toString(),
      })
      assert.equal(res.statusCode, 303)
      const cookie = String(res.headers['set-cookie'])
      assert.match(cookie, /^__Host-hikyaku_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/)
      const token = cookie.split(';')[0] as string
      const page = await h.app.inject({ method: 'GET', url: '/dashboard', headers: { cookie: token } })
      assert.equal(page.statusCode, 200)
      const plain = await h.app.inject({ method: 'GET', url: '/dashboard', headers: { cookie: token.replace('__Host-', '') } })
      assert.equal(plain.statusCode, 303, 'the name without its prefix is no session')
    } finally {
      await h.close()
    }
  })
})
