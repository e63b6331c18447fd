/**
 * `npm run screenshots`: pictures of the dashboard for docs/dashboard.md, taken with the same
 * headless Chromium the tests drive. Starts a private Hikyaku (the test harness: its own
 * database cloned from the test template, a loopback SMTP sink), sends a little mail of each
 * kind, signs in and saves each page to docs/images/. Needs what `npm test` needs (Postgres,
 * Redis, the prepared test template, Chromium at CHROMIUM_PATH or /usr/bin/chromium).
 */
import { mkdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { PACKAGE_ROOT } from '../src/lib/paths.js'
import { basicEmail, startHarness, TERMINAL } from '../test/helpers/harness.js'
import { startSink } from '../test/helpers/smtp-sink.js'

const OUT = join(PACKAGE_ROOT, 'docs', 'images')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

const sink = await startSink({
  rcpt: (address) => (address.startsWith('gone') ? { code: 550, message: '5.1.1 <gone> User unknown' } : undefined),
})
const h = await startHarness({ env: { SMTP_RELAY_URL: sink.url, SWEEP_INTERVAL: '1s' } })
try {
  await h.request('POST', '/v1/domains', { payload: { name: 'example.com' } })
  const campaign = (await h.request('POST', '/v1/campaigns', { payload: { name: 'December newsletter' } })).body.id
  const ids: string[] = []
  for (let i = 0; i < 12; i++) {
    const to = i % 5 === 4 ? `gone${i}@example.net` : `reader${i}@example.${i % 2 ? 'net' : 'org'}`
    ids.push((await h.send(basicEmail({ to, subject: `Your receipt #${1000 + i}`, tags: { kind: 'receipt' } }))).body.id)
  }
  await h.request('POST', '/v1/emails/batch', {
    payload: {
      defaults: { from: 'news@example.com', subject: 'December news', text: 'Hello', stream: 'broadcast', campaign },
      emails: Array.from({ length: 20 }, (_, i) => ({ to: `member${i}@example.jp` })),
    },
  })
  await h.request('POST', '/v1/suppressions', { payload: { address: 'left@example.org', note: 'asked by phone' } })
  for (const id of ids) await h.waitForEmail(id, (e) => TERMINAL.includes(e.status))
  await new Promise((resolve) => setTimeout(resolve, 2_000))

  await h.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`
  mkdirSync(OUT, { recursive: true })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } })
    await page.goto(`${base}/dashboard/login`)
    await page.screenshot({ path: join(OUT, 'dashboard-login.png') })
    await page.getByLabel('Full-scope API key').fill(h.key)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${base}/dashboard`)
    const shots: Array<[string, string]> = [
      ['dashboard-overview.png', '/dashboard?range=24h'],
      ['dashboard-emails.png', '/dashboard/emails'],
      ['dashboard-email.png', `/dashboard/emails/${ids[4]}`],
      ['dashboard-campaign.png', `/dashboard/campaigns/${campaign}`],
      ['dashboard-suppressions.png', '/dashboard/suppressions'],
      ['dashboard-domain.png', '/dashboard/domains'],
    ]
    for (const [file, path] of shots) {
      await page.goto(`${base}${path}`)
      await page.screenshot({ path: join(OUT, file), fullPage: file !== 'dashboard-emails.png' })
    }
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } })
    await phone.context().addCookies(await page.context().cookies())
    await phone.goto(`${base}/dashboard/emails`)
    await phone.screenshot({ path: join(OUT, 'dashboard-phone.png') })
  } finally {
    await browser.close()
  }
  process.stdout.write(`screenshots written to ${OUT}\n`)
} finally {
  await h.close()
  await sink.close()
}
