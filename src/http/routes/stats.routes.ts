import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { validationFailed } from '../../lib/errors.js'
import type { StatsService } from '../../modules/stats/stats.service.js'
import type { StatPoint } from '../../modules/stats/stats.types.js'
import { errors } from '../schemas/common.js'
import { STATS_MAX_GROUPS, StatsQuerySchema, StatsSchema } from '../schemas/stats.js'

const WEEK_MS = 7 * 24 * 3_600_000

const series = (points: StatPoint[]) => points.map((p) => ({ start: p.start.toISOString(), counts: p.counts }))

/** Counts and rates over time from the statistics rollup (full-scope keys). */
export const statsRoutes: FastifyPluginAsyncTypebox<{ stats: StatsService }> = async (app, { stats }) => {
  app.get(
    '/stats',
    {
      schema: {
        tags: ['stats'],
        summary: 'Counts per event and rates over time, in total and per domain, tag, stream or campaign',
        description:
          'Served from hourly rollups kept as events happen (never a scan of the emails), so it answers in milliseconds ' +
          'whatever the account has sent. Buckets are UTC hours or days; every bucket of the range is listed.',
        querystring: StatsQuerySchema,
        response: { 200: StatsSchema, ...errors(401, 403, 422, 429, 503) },
      },
    },
    async (request) => {
      const q = request.query
      const to = q.to ? new Date(q.to) : new Date()
      const from = q.from ? new Date(q.from) : new Date(to.getTime() - WEEK_MS)
      const interval = q.interval ?? 'day'
      const values = q.values
        ?.split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '')
      if (values && !q.group_by) throw validationFailed([{ path: '/query/values', message: 'values needs group_by' }])
      if (values && values.length > STATS_MAX_GROUPS) {
        throw validationFailed([{ path: '/query/values', message: `at most ${STATS_MAX_GROUPS} values` }])
      }
      const result = await stats.query(request.principal.accountId, {
        from,
        to,
        interval,
        groupBy: q.group_by,
        values: values?.length ? [...new Set(values)] : undefined,
        limit: q.limit ?? 20,
      })
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        interval,
        counted_up_to: result.countedUpTo?.toISOString() ?? null,
        counts: result.counts,
        rates: result.rates,
        series: series(result.series),
        ...(q.group_by
          ? {
              group_by: q.group_by,
              groups: (result.groups ?? []).map((g) => ({ value: g.value, counts: g.counts, rates: g.rates, series: series(g.series) })),
            }
          : {}),
      }
    },
  )
}
