import { Type } from 'typebox'
import { STAT_METRICS } from '../../modules/stats/stats.types.js'

export const STATS_MAX_GROUPS = 100

const interval = (options: { default?: string; description?: string } = {}) =>
  Type.Union([Type.Literal('hour'), Type.Literal('day')], options)
const dimension = (options: { description?: string } = {}) =>
  Type.Union([Type.Literal('domain'), Type.Literal('tag'), Type.Literal('stream'), Type.Literal('campaign')], options)

export const StatsQuerySchema = Type.Object({
  from: Type.Optional(
    Type.String({
      format: 'date-time',
      description: 'Start of the range (inclusive, rounded down to its hour); default: `to` minus 7 days',
    }),
  ),
  to: Type.Optional(
    Type.String({ format: 'date-time', description: 'End of the range (exclusive, rounded up to its hour); default: now' }),
  ),
  interval: Type.Optional(interval({ default: 'day', description: 'Bucket size (UTC)' })),
  group_by: Type.Optional(dimension({ description: 'Also answer per recipient domain, tag (`key=value`), stream or campaign id' })),
  values: Type.Optional(
    Type.String({
      maxLength: 4000,
      description:
        'With group_by: comma-separated values to answer for (e.g. `gmail.com,yahoo.co.jp`); default: the ones with the most accepted mail',
    }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: STATS_MAX_GROUPS, default: 20, description: 'With group_by: groups at most' })),
})

const CountsSchema = Type.Object(
  Object.fromEntries(STAT_METRICS.map((m) => [m, Type.Integer({ minimum: 0 })])) as Record<
    (typeof STAT_METRICS)[number],
    ReturnType<typeof Type.Integer>
  >,
  {
    description:
      'Events in the range: accepted (recipients queued or scheduled), sent (2xx from the relay), delivered (2xx from the recipient MX), deferred (temporary failures, per attempt), bounced and bounced_<category>, complained, unsubscribed, suppressed, failed, expired, cancelled',
  },
)

const RatesSchema = Type.Object({
  delivery_rate: Type.Union([Type.Number(), Type.Null()], {
    description: '(sent + delivered) / (sent + delivered + bounced + failed + expired); null without any of them',
  }),
  bounce_rate: Type.Union([Type.Number(), Type.Null()], { description: 'bounced / (sent + delivered + bounced)' }),
  complaint_rate: Type.Union([Type.Number(), Type.Null()], { description: 'complained / (sent + delivered)' }),
})

const SeriesSchema = Type.Array(Type.Object({ start: Type.String({ format: 'date-time' }), counts: CountsSchema }), {
  description: 'One entry per bucket of the range, oldest first, zeros included',
})

export const StatsSchema = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  interval: interval(),
  counted_up_to: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'Events are counted up to this time; the rollup follows them within a few seconds',
  }),
  counts: CountsSchema,
  rates: RatesSchema,
  series: SeriesSchema,
  group_by: Type.Optional(dimension()),
  groups: Type.Optional(Type.Array(Type.Object({ value: Type.String(), counts: CountsSchema, rates: RatesSchema, series: SeriesSchema }))),
})
