// (p) dashboard page loads on a large database. A database of its own ($BENCH_DB_dash, migrated
// with `hikyaku migrate`) gets BENCH_DASH_EMAILS emails written with SQL (generate_series; ids are
// UUIDv7 of their creation times, spread over 30 days): BENCH_DASH_ACCOUNT_EMAILS of them belong to
// the measured account, the rest to another account, plus a month of hourly statistics rows for
// both (what the rollup keeps). A `hikyaku api` on that database; sign-in through the login form;
// then each page is fetched BENCH_DASH_SAMPLES times after 3 warm-ups, one request at a time, timed
// at the client on loopback (server time plus a loopback round trip): the overview (7 days and 24
// hours), the first page of the emails list, a page 5,000 emails deep, the list filtered by a
// status and by a recipient, one email. Target: < 300 ms each. Then retention on that database:
// `hikyaku retention` passes with RETENTION_BODIES=7d and RETENTION_METADATA=14d (most of the other
// account's mail is past them), BENCH_DASH_RETENTION_PASSES of them, each timed: what one pass of
// the worker's (20 batches of 500 emails) costs, and the page loads again while passes run.
// Bounded in count and time.
import { execFile, execFileSync } from 'node:child_process'
import http from 'node:http'
import { promisify } from 'node:util'
import pg from 'pg'
import { envInt, summarize } from './lib.mjs'

const C = {
  emails: envInt('BENCH_DASH_EMAILS', 1_000_000, 20_000),
  accountEmails: envInt('BENCH_DASH_ACCOUNT_EMAILS', 10_000, 1_000),
  samples: envInt('BENCH_DASH_SAMPLES', 30, 1),
  retentionPasses: envInt('BENCH_DASH_RETENTION_PASSES', 5, 0),
}

// A UUIDv7 from a time in ms (as text), random below it: list order is creation order.
const UUIDV7 = (ms) =>
  `(lpad(to_hex(${ms}), 12, '0') || '7' || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid`

function request(port, path, { method = 'GET', cookie, form } = {}) {
  const body = form ? Buffer.from(new URLSearchParams(form).toString()) : undefined
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        timeout: 30_000,
        headers: {
          ...(cookie ? { cookie } : {}),
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length } : {}),
        },
      },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: performance.now() - t0 }),
        )
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

async function load(client, accountId, otherId, progress) {
  const now = Date.now()
  const span = 30 * 86_400_000
  // The other account first, in chunks, so that no statement holds a huge transaction.
  const others = C.emails - C.accountEmails
  const chunk = 200_000
  for (let done = 0; done < others; done += chunk) {
    const n = Math.min(chunk, others - done)
    await client.query(
      `INSERT INTO emails (id, account_id, status, from_header, envelope_from, to_header, subject, text, stream, message_id, size_bytes, expires_at, created_at, updated_at)
       SELECT ${UUIDV7('t.ms')}, $1, 'sent', 'Bulk <bulk@example.com>', 'bulk@example.com', jsonb_build_array('r' || g || '@example.net'),
              'Bulk ' || g, 'Hello', 'broadcast', g || '.bulk@example.com', 1200, to_timestamp(t.ms / 1000.0) + interval '3 days',
              to_timestamp(t.ms / 1000.0), to_timestamp(t.ms / 1000.0)
         FROM generate_series($2::int, $3::int) g, LATERAL (SELECT ($4::bigint - (g::bigint * $5::bigint) / $6::bigint) AS ms) t`,
      [otherId, done + 1, done + n, now, span, others],
    )
    progress(`phase p: loaded ${done + n} of ${C.emails} emails`)
  }
  const statuses = ['sent', 'sent', 'sent', 'sent', 'delivered', 'bounced', 'deferred', 'sent']
  await client.query(
    `INSERT INTO emails (id, account_id, status, from_header, envelope_from, to_header, subject, text, tags, stream, message_id, size_bytes, expires_at, created_at, updated_at)
     SELECT ${UUIDV7('t.ms')}, $1, ($6::text[])[1 + g % 8]::"EmailStatus", 'Shop <orders@example.com>', 'orders@example.com',
            jsonb_build_array('customer' || g || '@example.' || (ARRAY['com', 'net', 'org', 'jp'])[1 + g % 4]),
            'Your receipt #' || g, 'Thanks', jsonb_build_object('kind', (ARRAY['receipt', 'reset', 'welcome'])[1 + g % 3]),
            (ARRAY['transactional', 'broadcast'])[1 + g % 2], g || '.shop@example.com', 1500,
            to_timestamp(t.ms / 1000.0) + interval '3 days', to_timestamp(t.ms / 1000.0), to_timestamp(t.ms / 1000.0)
       FROM generate_series(1, $2::int) g, LATERAL (SELECT ($3::bigint - (g::bigint * $4::bigint) / $5::bigint) AS ms) t`,
    [accountId, C.accountEmails, now, span, C.accountEmails, statuses],
  )
  // A month of hourly rollup rows for both accounts: totals, 4 domains, 2 streams, 3 tags.
  await client.query(
    `INSERT INTO stat_counts (account_id, dimension, value, hour, metric, n)
     SELECT a, d.dimension, d.value, date_trunc('hour', now()) - h * interval '1 hour', m, (random() * 100)::int
       FROM unnest($1::uuid[]) a, generate_series(0, 719) h,
            unnest(ARRAY['accepted', 'sent', 'delivered', 'deferred', 'bounced', 'bounced_hard', 'complained', 'suppressed']) m,
            (VALUES ('', ''), ('domain', 'example.com'), ('domain', 'example.net'), ('domain', 'example.org'), ('domain', 'example.jp'),
                    ('stream', 'transactional'), ('stream', 'broadcast'), ('tag', 'kind=receipt'), ('tag', 'kind=reset'), ('tag', 'kind=welcome')) d(dimension, value)`,
    [[accountId, otherId]],
  )
  await client.query('ANALYZE emails')
  await client.query('ANALYZE stat_counts')
}

/**
 * Runs (p). `startApi(databaseUrl)` starts a `hikyaku api` on that database and resolves to
 * { port, stop() }; `hikyaku(args, databaseUrl)` runs a CLI command and returns its stdout.
 */
export async function dashboardPhase({ adminUrl, databaseUrl, startApi, hikyaku, progress }) {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  const name = `${new URL(databaseUrl).pathname.slice(1)}_dash`
  const url = new URL(databaseUrl)
  url.pathname = `/${name}`
  const out = { emails: C.emails, accountEmails: C.accountEmails, samples: C.samples, pages: {} }
  let api
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}"`)
    await admin.query(`CREATE DATABASE "${name}"`)
    hikyaku(['migrate'], url.toString())
    const key = hikyaku(['accounts', 'create', 'Shop'], url.toString()).trim().split('\n').pop()
    hikyaku(['accounts', 'create', 'Bulk sender'], url.toString())
    const client = new pg.Client({ connectionString: url.toString() })
    await client.connect()
    try {
      const { rows } = await client.query(`SELECT id, name FROM accounts`)
      const accountId = rows.find((r) => r.name === 'Shop').id
      const otherId = rows.find((r) => r.name === 'Bulk sender').id
      const t0 = Date.now()
      await load(client, accountId, otherId, progress)
      out.loadMs = Date.now() - t0
      const deep = await client.query('SELECT id FROM emails WHERE account_id = $1 ORDER BY id DESC OFFSET 5000 LIMIT 1', [accountId])
      out.deepCursor = Buffer.from(`v1:${deep.rows[0].id}`).toString('base64url')
      const one = await client.query('SELECT id FROM emails WHERE account_id = $1 ORDER BY id DESC OFFSET 100 LIMIT 1', [accountId])
      out.oneId = one.rows[0].id
    } finally {
      await client.end()
    }
    api = await startApi(url.toString())
    const login = await request(api.port, '/dashboard/login', { method: 'POST', form: { api_key: key } })
    const cookie = String(login.headers['set-cookie'] ?? '').split(';')[0]
    if (login.status !== 303 || !cookie) throw new Error(`sign-in failed: ${login.status} ${login.body.slice(0, 200)}`)
    const pages = {
      overview_7d: '/dashboard',
      overview_24h: '/dashboard?range=24h',
      emails_first_page: '/dashboard/emails',
      emails_5000_deep: `/dashboard/emails?cursor=${out.deepCursor}`,
      emails_status_filter: '/dashboard/emails?status=bounced',
      emails_recipient_filter: '/dashboard/emails?recipient=customer4242%40example.org',
      email_detail: `/dashboard/emails/${out.oneId}`,
    }
    const timePage = async (path) => {
      const times = []
      for (let i = 0; i < C.samples + 3; i++) {
        const res = await request(api.port, path, { cookie })
        if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${res.body.slice(0, 200)}`)
        if (i >= 3) times.push(res.ms)
      }
      return summarize(times)
    }
    for (const [page, path] of Object.entries(pages)) {
      out.pages[page] = await timePage(path)
      progress(`phase p: ${page} p50 ${Math.round(out.pages[page].p50)} ms, p90 ${Math.round(out.pages[page].p90)} ms`)
    }
    if (C.retentionPasses > 0) {
      out.retention = { passes: [] }
      // The list page timed while the passes run, one request after another, as above.
      let running = true
      const during = (async () => {
        const times = []
        while (running && times.length < 10_000) {
          const res = await request(api.port, pages.emails_first_page, { cookie })
          times.push(res.ms)
        }
        return summarize(times)
      })()
      try {
        for (let i = 0; i < C.retentionPasses; i++) {
          const t0 = Date.now()
          // Not the synchronous runner: the list requests must go on meanwhile.
          const stdout = await hikyaku.async(['retention'], url.toString(), { RETENTION_BODIES: '7d', RETENTION_METADATA: '14d' })
          const result = JSON.parse(stdout.trim().split('\n').pop())
          out.retention.passes.push({ ...result, wallMs: Date.now() - t0 })
        }
      } finally {
        running = false
      }
      out.retention.listDuring = await during
      const purged = out.retention.passes.reduce((n, p) => n + p.bodies + p.metadata, 0)
      const ms = out.retention.passes.reduce((n, p) => n + p.ms, 0)
      out.retention.purged = purged
      out.retention.msPer1000 = purged > 0 ? (ms / purged) * 1000 : null
      progress(
        `phase p: retention ${purged} emails purged in ${C.retentionPasses} passes, ${Math.round(out.retention.msPer1000 ?? 0)} ms per 1,000`,
      )
    }
  } finally {
    await api?.stop()
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {})
    await admin.end()
  }
  return out
}

export const runHikyaku = (root, env) => {
  const options = (databaseUrl, extra) => ({ env: { ...env, DATABASE_URL: databaseUrl, ...extra }, encoding: 'utf8', timeout: 120_000 })
  const run = (args, databaseUrl, extra = {}) =>
    execFileSync(process.execPath, [`${root}/bin/hikyaku.js`, ...args], {
      ...options(databaseUrl, extra),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  run.async = async (args, databaseUrl, extra = {}) =>
    (await promisify(execFile)(process.execPath, [`${root}/bin/hikyaku.js`, ...args], options(databaseUrl, extra))).stdout
  return run
}
