import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { returnPath } from '../../src/modules/feedback/verp.js'
import { STAT_METRICS } from '../../src/modules/stats/stats.types.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness, TERMINAL } from '../helpers/harness.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

const FIXTURES = new URL('../fixtures/reports/', import.meta.url).pathname
const VERP_RE = /bounces\+[0-9a-f]{32}-[a-z2-7]{13}@bounces\.example\.com/g
const HOUR = 3_600_000

type Counts = Record<string, number>

/**
 * GET /v1/stats against raw counts: concurrent sends (single, batch, a campaign, tags, several
 * domains), synchronous bounces of each category, later bounces and complaints through the
 * feedback service, and extra rollup passes racing the worker's own — the rollup counts every
 * event once.
 */
describe('statistics from the rollup', () => {
  let sink: Sink
  let h: Harness
  let db: pg.Client

  before(async () => {
    sink = await startSink({
      rcpt: (address) => {
        if (address.startsWith('hard')) return { code: 550, message: '5.1.1 no such user' }
        if (address.startsWith('full')) return { code: 552, message: '5.2.2 mailbox full' }
        if (address.startsWith('policy')) return { code: 554, message: '5.7.1 message refused as spam' }
        return undefined
      },
    })
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url, SWEEP_INTERVAL: '1s' } })
    db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
    assert.equal((await h.request('POST', '/v1/domains', { payload: { name: 'example.com' } })).status, 201)
  })
  after(async () => {
    await db.end()
    await h.close()
    await sink.close()
  })

  const range = () => {
    const now = Date.now()
    return `from=${new Date(now - 2 * HOUR).toISOString()}&to=${new Date(now + HOUR).toISOString()}`
  }
  const stats = async (query: string) => {
    const res = await h.request('GET', `/v1/stats?${range()}&${query}`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body
  }
  /** What the events table holds for the account, counted the way the rollup counts. */
  const raw = async (where = 'TRUE', params: unknown[] = []): Promise<Counts> => {
    const { rows } = await db.query<{ metric: string; n: number }>(
      `SELECT m.metric, count(*)::int AS n
         FROM events ev JOIN emails e ON e.id = ev.email_id
        CROSS JOIN LATERAL (VALUES (CASE ev.type WHEN 'email.queued' THEN 'accepted' WHEN 'email.scheduled' THEN 'accepted'
                                    WHEN 'stream.paused' THEN NULL ELSE substr(ev.type, 7) END),
                                   (CASE WHEN ev.type = 'email.bounced' THEN 'bounced_' || (ev.data->>'bounce_category') END)) m(metric)
        WHERE ev.account_id = $1 AND m.metric IS NOT NULL AND ${where}
        GROUP BY m.metric`,
      [h.accountId, ...params],
    )
    const counts: Counts = Object.fromEntries(STAT_METRICS.map((m) => [m, 0]))
    for (const r of rows) counts[r.metric] = r.n
    return counts
  }
  const sum = (groups: Array<{ counts: Counts }>): Counts => {
    const total: Counts = Object.fromEntries(STAT_METRICS.map((m) => [m, 0]))
    for (const g of groups) for (const m of STAT_METRICS) total[m] = (total[m] ?? 0) + (g.counts[m] ?? 0)
    return total
  }

  it('totals and groups equal the raw counts after concurrent sends, bounces and complaints', async () => {
    const campaign = (await h.request('POST', '/v1/campaigns', { payload: { name: 'November' } })).body.id as string
    const prefixes = ['ok', 'ok', 'ok', 'hard', 'full', 'policy']
    // Extra rollup passes, as other worker processes would run them, race the worker's own loop.
    let racing = true
    const racers = Array.from({ length: 3 }, async () => {
      while (racing) {
        await h.container.services.stats.rollUp()
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    })
    const singles = Array.from({ length: 36 }, (_, i) =>
      h.send(
        basicEmail({
          to: [`${prefixes[i % prefixes.length]}-${i}@${i % 2 ? 'example.net' : 'example.org'}`],
          tags: { plan: i % 3 ? 'free' : 'pro' },
        }),
      ),
    )
    const batch = h.request('POST', '/v1/emails/batch', {
      payload: {
        defaults: { from: 'news@example.com', subject: 'News', text: 'Hello', stream: 'broadcast', campaign, tags: { plan: 'pro' } },
        emails: Array.from({ length: 30 }, (_, i) => ({ to: `${prefixes[i % prefixes.length]}-b${i}@example.jp` })),
      },
    })
    const answers = await Promise.all([...singles, batch])
    for (const a of answers) assert.equal(a.status, 202, JSON.stringify(a.body))
    const ids = [...answers.slice(0, -1).map((a) => a.body.id as string), ...(await batch).body.data.map((d: { id: string }) => d.id)]
    for (const id of ids) await h.waitForEmail(id, (e) => TERMINAL.includes(e.status))

    // Later reports: two sent messages bounce, one draws a complaint.
    const { rows: sent } = await db.query<{ address: string; delivery_id: string }>(
      "SELECT address, delivery_id FROM recipients WHERE account_id = $1 AND status = 'sent' ORDER BY address LIMIT 3",
      [h.accountId],
    )
    const verp = (i: number) => returnPath(h.config.secret, sent[i]?.delivery_id as string, 'bounces.example.com')
    for (const i of [0, 1]) {
      const dsn = readFileSync(`${FIXTURES}postfix-5.1.1.eml`, 'latin1')
        .replace(VERP_RE, verp(i))
        .replaceAll('gone@example.net', sent[i]?.address as string)
      await h.container.services.feedback.receive({ raw: Buffer.from(dsn, 'latin1'), mailFrom: '', rcptTo: [verp(i)] })
    }
    const arf = readFileSync(`${FIXTURES}yahoo-arf.eml`, 'latin1')
      .replace(VERP_RE, verp(2))
      .replaceAll('reader@yahoo.com', sent[2]?.address as string)
    await h.container.services.feedback.receive({
      raw: Buffer.from(arf, 'latin1'),
      mailFrom: 'fbl@arf.example',
      rcptTo: ['fbl@bounces.example.com'],
    })
    racing = false
    await Promise.all(racers)

    const expected = await raw()
    assert.ok(
      (expected.bounced_hard ?? 0) >= 7 &&
        expected.complained === 1 &&
        (expected.bounced_policy ?? 0) >= 1 &&
        (expected.bounced_soft ?? 0) >= 1,
      JSON.stringify(expected),
    )
    const totals = await waitFor(
      'the rollup to count every event',
      async () => {
        const body = await stats('interval=hour')
        return STAT_METRICS.every((m) => body.counts[m] === expected[m]) ? body : undefined
      },
      15_000,
    ).catch(async (err) => {
      assert.deepEqual((await stats('interval=hour')).counts, expected, String(err))
      throw err
    })
    assert.equal(totals.counts.accepted, 36 + 30)
    assert.deepEqual(sum(totals.series), totals.counts, 'the hours add up to the totals')
    assert.ok(totals.counted_up_to, 'says how far it has counted')
    const ok = totals.counts.sent + totals.counts.delivered
    assert.equal(totals.rates.complaint_rate, Math.round((1 / ok) * 1e6) / 1e6)
    assert.equal(totals.rates.bounce_rate, Math.round((totals.counts.bounced / (ok + totals.counts.bounced)) * 1e6) / 1e6)

    const byStream = await stats('group_by=stream')
    assert.deepEqual(byStream.groups.map((g: { value: string }) => g.value).sort(), ['broadcast', 'transactional'])
    assert.deepEqual(sum(byStream.groups), totals.counts, 'every event is in exactly one stream')
    assert.deepEqual(byStream.groups.find((g: { value: string }) => g.value === 'broadcast').counts, await raw("e.stream = 'broadcast'"))

    const byCampaign = await stats('group_by=campaign')
    assert.deepEqual(
      byCampaign.groups.map((g: { value: string }) => g.value),
      [campaign],
    )
    assert.deepEqual(byCampaign.groups[0].counts, await raw('e.campaign_id = $2', [campaign]))

    const byDomain = await stats('group_by=domain&values=example.jp,example.net,nowhere.test')
    assert.deepEqual(byDomain.groups[0].counts, await raw("split_part(ev.recipient, '@', 2) = 'example.jp'"))
    assert.deepEqual(byDomain.groups[1].counts, await raw("split_part(ev.recipient, '@', 2) = 'example.net'"))
    assert.equal(byDomain.groups[2].counts.accepted, 0, 'a value with no mail answers zeros')

    const byTag = await stats('group_by=tag')
    assert.deepEqual(byTag.groups.find((g: { value: string }) => g.value === 'plan=pro').counts, await raw("e.tags->>'plan' = 'pro'"))
    assert.deepEqual(sum(byTag.groups), totals.counts, 'one tag per message here: the tags add up to the totals')

    const daily = await stats('interval=day')
    assert.deepEqual(daily.counts, totals.counts)
    assert.ok(daily.series.length >= 1 && daily.series.length <= 2)
  })

  it("shows another account none of this account's counts", async () => {
    const other = await h.container.services.accounts.create('Other')
    const res = await h.request('GET', `/v1/stats?${range()}&group_by=domain`, { headers: { authorization: `Bearer ${other.key}` } })
    assert.equal(res.status, 200)
    assert.ok(STAT_METRICS.every((m) => res.body.counts[m] === 0))
    assert.deepEqual(res.body.groups, [])
  })

  it('refuses ranges it will not answer at once, and values without group_by', async () => {
    const long = await h.request('GET', '/v1/stats?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&interval=hour')
    assert.equal(long.status, 422)
    assert.match(JSON.stringify(long.body), /at most 2160/)
    assert.equal((await h.request('GET', '/v1/stats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z')).status, 422)
    assert.equal((await h.request('GET', '/v1/stats?values=gmail.com')).status, 422)
    const wide = await h.request(
      'GET',
      `/v1/stats?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&interval=hour&group_by=domain&limit=100`,
    )
    assert.equal(wide.status, 422, 'one answer holds a bounded number of points')
    assert.match(JSON.stringify(wide.body), /points one answer holds/)
    assert.equal((await h.request('GET', '/v1/stats?group_by=recipient')).status, 422)
  })
})
