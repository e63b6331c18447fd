import type { Logger } from '../../infra/logger.js'
import { validationFailed } from '../../lib/errors.js'
import type { StatRow, StatsRepository } from './stats.repository.js'
import {
  STAT_METRICS,
  type StatCounts,
  type StatInterval,
  type StatPoint,
  type StatRates,
  type StatSeries,
  type StatsQuery,
  type StatsResult,
} from './stats.types.js'

const HOUR_MS = 3_600_000
/** Buckets one series may hold: 90 days by hour, about ten years by day. */
const MAX_BUCKETS = 2_160
/** How far back the groups of a group_by without values are picked from. */
const TOP_VALUES_WINDOW_MS = 31 * 24 * HOUR_MS
/** Buckets one answer may hold over all its series (the totals and each group): its size and work are bounded. */
const MAX_POINTS = 20_000
/** Events one rollup statement counts. */
const ROLLUP_BATCH = 5_000
/** Accounts looked at per rollup pass. */
const ROLLUP_ACCOUNTS = 100
/** A restore's warning is logged at most this often. */
const WARN_EVERY_MS = 600_000

const zero = (): StatCounts => Object.fromEntries(STAT_METRICS.map((m) => [m, 0])) as StatCounts
const ratio = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 1e6) / 1e6 : null)

export function ratesOf(c: StatCounts): StatRates {
  const ok = c.sent + c.delivered
  return {
    delivery_rate: ratio(ok, ok + c.bounced + c.failed + c.expired),
    bounce_rate: ratio(c.bounced, ok + c.bounced),
    complaint_rate: ratio(c.complained, ok),
  }
}

const bucketStart = (at: Date, interval: StatInterval): number => {
  const t = Math.floor(at.getTime() / HOUR_MS) * HOUR_MS
  return interval === 'hour' ? t : Math.floor(t / (24 * HOUR_MS)) * 24 * HOUR_MS
}

/** Every bucket of [from, to), zeros included, so a chart has no gaps. */
function seriesOf(rows: StatRow[], query: StatsQuery): StatSeries {
  const step = (query.interval === 'hour' ? 1 : 24) * HOUR_MS
  const points = new Map<number, StatPoint>()
  for (let t = bucketStart(query.from, query.interval); t < query.to.getTime(); t += step) {
    points.set(t, { start: new Date(t), counts: zero() })
  }
  const counts = zero()
  for (const row of rows) {
    const metric = row.metric as keyof StatCounts
    if (!(metric in counts)) continue
    counts[metric] += row.n
    const point = points.get(row.bucket.getTime())
    if (point) point.counts[metric] += row.n
  }
  return { counts, rates: ratesOf(counts), series: [...points.values()] }
}

/**
 * Statistics from the rollup (stat_counts), never from the emails table: each answer reads at
 * most (hours in the range × metrics × values) small rows, whatever the account has sent.
 */
export function createStatsService(deps: { repository: StatsRepository; logger: Logger }) {
  const { repository, logger } = deps
  let warnedAt = 0

  return {
    async query(accountId: string, query: StatsQuery): Promise<StatsResult> {
      if (!(query.from < query.to)) throw validationFailed([{ path: '/from', message: 'from must be before to' }])
      const buckets = (query.to.getTime() - bucketStart(query.from, query.interval)) / ((query.interval === 'hour' ? 1 : 24) * HOUR_MS)
      if (buckets > MAX_BUCKETS) {
        throw validationFailed([
          { path: '/to', message: `the range holds ${Math.ceil(buckets)} ${query.interval}s; at most ${MAX_BUCKETS} are answered at once` },
        ])
      }
      const series = 1 + (query.groupBy ? (query.values?.length ?? query.limit) : 0)
      if (Math.ceil(buckets) * series > MAX_POINTS) {
        throw validationFailed([
          {
            path: '/to',
            message: `${Math.ceil(buckets)} ${query.interval}s × ${series} series is more than the ${MAX_POINTS} points one answer holds: shorten the range, use interval=day, or ask for fewer groups`,
          },
        ])
      }
      // Hour rows are summed into buckets, so the range is widened to whole hours.
      const from = new Date(bucketStart(query.from, 'hour'))
      const to = new Date(Math.ceil(query.to.getTime() / HOUR_MS) * HOUR_MS)
      const [totals, countedUpTo] = await Promise.all([
        repository.counts(accountId, '', query.interval, from, to),
        repository.countedUpTo(accountId),
      ])
      const result: StatsResult = { ...seriesOf(totals, query), countedUpTo }
      if (!query.groupBy) return result
      // The groups with the most mail are picked from the range's last 31 days at most: reading a
      // dimension's every value over years would cost as much as the answer is meant to save.
      const pickFrom = new Date(Math.max(from.getTime(), to.getTime() - TOP_VALUES_WINDOW_MS))
      const values = query.values ?? (await repository.topValues(accountId, query.groupBy, pickFrom, to, query.limit))
      const rows = values.length > 0 ? await repository.counts(accountId, query.groupBy, query.interval, from, to, values) : []
      const byValue = new Map<string, StatRow[]>(values.map((v) => [v, []]))
      for (const row of rows) byValue.get(row.value)?.push(row)
      result.groups = [...byValue].map(([value, some]) => ({ value, ...seriesOf(some, query) }))
      return result
    },

    /**
     * One rollup pass: counts the new events of the accounts that have some, a batch each, and
     * says whether more are waiting (the caller then runs again at once).
     */
    async rollUp(stopping: () => boolean = () => false): Promise<{ events: number; more: boolean }> {
      const { ahead } = await repository.ensureCursors()
      if (ahead > 0 && Date.now() - warnedAt > WARN_EVERY_MS) {
        warnedAt = Date.now()
        logger.error(
          { accounts: ahead },
          'statistics cursors are ahead of the database transaction counter (a dump restored into a new cluster?): nothing new is counted for them until the counter passes them; see docs/architecture.md §8 (raise the epoch with pg_resetwal -e)',
        )
      }
      const accounts = await repository.pendingAccounts(ROLLUP_ACCOUNTS)
      let events = 0
      let failed = 0
      let more = false
      for (const accountId of accounts) {
        if (stopping()) return { events, more: false }
        try {
          const n = await repository.rollUp(accountId, ROLLUP_BATCH)
          events += n ?? 0
          if (n === ROLLUP_BATCH) more = true
        } catch (err) {
          failed++
          // One account's failure (a statement timeout on a huge batch) must not hold up the others.
          logger.warn({ err: String(err), accountId }, 'could not count the events of an account; will try again')
          await repository.setAside(accountId).catch(() => {})
        }
      }
      // More accounts than one pass takes: go on at once, unless this pass failed (a database that
      // refuses every account must be retried at the usual pace, not in a loop).
      if (accounts.length >= ROLLUP_ACCOUNTS && failed === 0) more = true
      return { events, more: more && failed < accounts.length }
    },
  }
}

export type StatsService = ReturnType<typeof createStatsService>
