// Cleanup of everything a benchmark run created: the processes it started (listed in
// $BENCH_STATE_DIR/pids as "pid role"), its database, and its Redis keys (all under its own
// BULLMQ_PREFIX). Idempotent and quiet when there is nothing left; the driver calls it when it
// finishes, and scripts/bench.sh runs it again as a backstop (`node scripts/bench/cleanup.mjs`).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'

const log = (msg) => process.stderr.write(`[bench cleanup] ${msg}\n`)

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Our process still, not a recycled pid: its command line mentions the repository's scripts. */
function ours(pid, root) {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return cmd.includes('hikyaku.js') || cmd.includes(join(root, 'scripts', 'bench'))
  } catch {
    return false
  }
}

/** SIGTERM every listed process still running, then SIGKILL what is left after `graceMs`. */
export async function killListed(stateDir, root, graceMs = 12_000) {
  let lines = []
  try {
    lines = readFileSync(join(stateDir, 'pids'), 'utf8').split('\n').filter(Boolean)
  } catch {
    return
  }
  const targets = lines
    .map((l) => {
      const [pid, role] = l.split(' ')
      return { pid: Number(pid), role }
    })
    .filter((t) => Number.isInteger(t.pid) && t.pid > 1 && alive(t.pid) && ours(t.pid, root))
  if (targets.length === 0) return
  for (const t of targets) {
    log(`stopping leftover ${t.role} (pid ${t.pid})`)
    try {
      process.kill(t.pid, 'SIGTERM')
    } catch {}
  }
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline && targets.some((t) => alive(t.pid))) await sleep(100)
  for (const t of targets) {
    if (alive(t.pid) && ours(t.pid, root)) {
      log(`killing ${t.role} (pid ${t.pid})`)
      try {
        process.kill(t.pid, 'SIGKILL')
      } catch {}
    }
  }
}

export async function dropDatabase(adminUrl, db) {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])
    if (rowCount) {
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`)
      return true
    }
    return false
  } finally {
    await client.end()
  }
}

/** Deletes every key under `prefix:` (only bench prefixes, as a guard). Returns how many. */
export async function deleteRedisKeys(redisUrl, prefix, maxMs = 30_000) {
  if (!/^hkbench-[A-Za-z0-9-]+$/.test(prefix)) throw new Error(`refusing to delete keys for prefix "${prefix}"`)
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000, enableOfflineQueue: true })
  redis.on('error', () => {})
  await redis.connect()
  let deleted = 0
  const deadline = Date.now() + maxMs
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length) deleted += await redis.unlink(...keys)
    } while (cursor !== '0' && Date.now() < deadline)
    return deleted
  } finally {
    redis.disconnect()
  }
}

export async function cleanupAll({ stateDir, root, adminUrl, db, redisUrl, prefix }) {
  const problems = []
  await killListed(stateDir, root).catch((err) => {
    problems.push(`processes: ${err.message}`)
  })
  const dropped = await dropDatabase(adminUrl, db).catch((err) => {
    problems.push(`database ${db}: ${err.message}`)
  })
  const deleted = await deleteRedisKeys(redisUrl, prefix).catch((err) => {
    problems.push(`redis keys ${prefix}:*: ${err.message}`)
  })
  return { dropped: dropped === true, deleted: typeof deleted === 'number' ? deleted : 0, problems }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const env = process.env
  const r = await cleanupAll({
    stateDir: env.BENCH_STATE_DIR,
    root: env.BENCH_ROOT,
    adminUrl: env.BENCH_ADMIN_URL,
    db: env.BENCH_DB,
    redisUrl: env.BENCH_REDIS_URL,
    prefix: env.BENCH_PREFIX,
  })
  if (r.dropped) log(`dropped database ${env.BENCH_DB}`)
  if (r.deleted) log(`deleted ${r.deleted} Redis keys under ${env.BENCH_PREFIX}:`)
  for (const p of r.problems) log(`could not clean up ${p}`)
  process.exitCode = r.problems.length ? 1 : 0
}
