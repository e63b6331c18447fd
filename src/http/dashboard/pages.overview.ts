import type { FastifyInstance } from 'fastify'
import { type EmailOverviewRepository, OVERVIEW_SCAN } from '../../modules/emails/email.overview.js'
import type { StatsService } from '../../modules/stats/stats.service.js'
import type { StreamService } from '../../modules/streams/stream.service.js'
import { lineChart } from './chart.js'
import { page, sessionOf } from './dashboard.js'

const DAY_MS = 86_400_000

/** The overview: the last 7 days (or 24 hours) of outcomes and rates, and the streams' state. */
export function overviewPages(
  app: FastifyInstance,
  deps: { stats: StatsService; streams: StreamService; overview: EmailOverviewRepository },
): void {
  app.get('/', { schema: { hide: true } }, async (request, reply) => {
    const session = sessionOf(request)
    const range = (request.query as { range?: string }).range === '24h' ? '24h' : '7d'
    const to = new Date()
    const from = new Date(to.getTime() - (range === '24h' ? DAY_MS : 7 * DAY_MS))
    const [stats, streams, pending] = await Promise.all([
      deps.stats.query(session.principal.accountId, { from, to, interval: range === '24h' ? 'hour' : 'day', limit: 10 }),
      deps.streams.list(session.principal.accountId),
      deps.overview.pending(session.principal.accountId),
    ])
    const labels = stats.series.map((p) =>
      range === '24h' ? `${String(p.start.getUTCHours()).padStart(2, '0')}:00` : p.start.toISOString().slice(5, 10),
    )
    const chart = lineChart('Outcomes', labels, [
      { label: 'Sent or delivered', color: '#116329', values: stats.series.map((p) => p.counts.sent + p.counts.delivered) },
      { label: 'Bounced', color: '#b3261e', values: stats.series.map((p) => p.counts.bounced) },
      { label: 'Complained', color: '#8250df', values: stats.series.map((p) => p.counts.complained) },
      { label: 'Deferred', color: '#8a4600', values: stats.series.map((p) => p.counts.deferred) },
    ])
    const percent = (r: number | null) => (r === null ? '—' : `${Math.round(r * 10_000) / 100} %`)
    return page(request, reply, 'overview', {
      title: 'Overview',
      page: 'overview',
      range,
      counts: stats.counts,
      rates: {
        delivery: percent(stats.rates.delivery_rate),
        bounce: percent(stats.rates.bounce_rate),
        complaint: percent(stats.rates.complaint_rate),
      },
      chart,
      rows: stats.series.map((p, i) => ({ label: labels[i], ...p.counts })),
      countedUpTo: stats.countedUpTo?.toISOString() ?? null,
      streams: streams.map((s) => ({ ...s, pausedAt: s.pausedAt?.toISOString() ?? null })),
      pending,
      scanLimit: OVERVIEW_SCAN,
    })
  })
}
