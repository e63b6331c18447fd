export const STAT_DIMENSIONS = ['domain', 'tag', 'stream', 'campaign'] as const
export type StatDimension = (typeof STAT_DIMENSIONS)[number]

export const STAT_INTERVALS = ['hour', 'day'] as const
export type StatInterval = (typeof STAT_INTERVALS)[number]

export const BOUNCE_CATEGORIES = ['hard', 'soft', 'policy', 'unknown'] as const

/** What the rollup counts, in the order the API lists them. */
export const STAT_METRICS = [
  'accepted',
  'sent',
  'delivered',
  'deferred',
  'bounced',
  ...BOUNCE_CATEGORIES.map((c) => `bounced_${c}` as const),
  'complained',
  'unsubscribed',
  'suppressed',
  'failed',
  'expired',
  'cancelled',
] as const
export type StatMetric = (typeof STAT_METRICS)[number]

export type StatCounts = Record<StatMetric, number>

export interface StatRates {
  /** (sent + delivered) / (sent + delivered + bounced + failed + expired) */
  delivery_rate: number | null
  /** bounced / (sent + delivered + bounced) */
  bounce_rate: number | null
  /** complained / (sent + delivered) */
  complaint_rate: number | null
}

export interface StatPoint {
  start: Date
  counts: StatCounts
}

export interface StatSeries {
  counts: StatCounts
  rates: StatRates
  series: StatPoint[]
}

export interface StatsQuery {
  from: Date
  to: Date
  interval: StatInterval
  groupBy?: StatDimension
  /** Only these values of the group_by dimension. */
  values?: string[]
  /** Groups at most (the ones with the most accepted mail). */
  limit: number
}

export interface StatsResult extends StatSeries {
  /** Events are counted up to this one's time (the rollup runs a moment behind the events). */
  countedUpTo: Date | null
  groups?: Array<StatSeries & { value: string }>
}
