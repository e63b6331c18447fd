import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { Registry } from 'prom-client'
import { DEFAULT_METRICS_PORTS, processKind } from '../../src/entrypoints/metrics.js'
import {
  createDeliveryGroup,
  createHttpGroup,
  createInboundGroup,
  createSubmissionGroup,
  type MetricGroup,
  smtpResult,
} from '../../src/infra/metrics.groups.js'
import { bearerMatches } from '../../src/infra/metrics.server.js'
import { createTally } from '../../src/infra/metrics.tally.js'

/** The registry's text for a group's metrics, as `name{labels} value` lines (comments dropped). */
async function lines(group: Pick<MetricGroup<unknown>, 'metrics'>): Promise<string[]> {
  const registry = new Registry()
  for (const metric of group.metrics) registry.registerMetric(metric)
  return (await registry.metrics()).split('\n').filter((l) => l !== '' && !l.startsWith('#'))
}

describe('tally', () => {
  it('shows a slot at 0 before any event, then what was added, one series per label set', async () => {
    const tally = createTally('t_total', 'test', ['a', 'b'])
    const x = tally.slot('1', '2')
    assert.equal(tally.slot('1', '2'), x, 'the same slot for the same labels')
    tally.slot('3', '4')
    assert.deepEqual(await lines({ metrics: [tally.metric] }), ['t_total{a="1",b="2"} 0', 't_total{a="3",b="4"} 0'])
    x.value += 2
    x.value++
    assert.deepEqual(await lines({ metrics: [tally.metric] }), ['t_total{a="1",b="2"} 3', 't_total{a="3",b="4"} 0'])
  })
})

describe('delivery group', () => {
  it('counts outcomes by stream, outcome and bounce category, and takeovers among claims', async () => {
    const group = createDeliveryGroup(['transactional'])
    group.hooks.claimed('transactional', [{}, { takenOver: true }, { takenOver: false }])
    group.hooks.recorded('transactional', [
      { status: 'sent', bounceCategory: null },
      { status: 'bounced', bounceCategory: 'hard' },
      { status: 'bounced', bounceCategory: null },
    ])
    group.hooks.recorded('newsletters', [{ status: 'delivered', bounceCategory: null }])
    group.hooks.swept({ ran: true, expired: 2, promoted: 1, redispatched: 4 })
    group.hooks.swept({ ran: false, expired: 0, promoted: 0, redispatched: 0 })
    const out = await lines(group)
    for (const line of [
      'hikyaku_deliveries_total{stream="transactional",outcome="sent",bounce_category="none"} 1',
      'hikyaku_deliveries_total{stream="transactional",outcome="bounced",bounce_category="hard"} 1',
      'hikyaku_deliveries_total{stream="transactional",outcome="bounced",bounce_category="unknown"} 1',
      'hikyaku_deliveries_total{stream="transactional",outcome="deferred",bounce_category="none"} 0',
      'hikyaku_deliveries_total{stream="newsletters",outcome="delivered",bounce_category="none"} 1',
      'hikyaku_delivery_claims_total{stream="transactional"} 3',
      'hikyaku_delivery_takeovers_total{stream="transactional"} 1',
      'hikyaku_sweeps_total{result="ran"} 1',
      'hikyaku_sweeps_total{result="skipped"} 1',
      'hikyaku_sweeper_expired_total 2',
      'hikyaku_sweeper_redispatched_total 4',
    ]) {
      assert.ok(out.includes(line), `${line}\nin:\n${out.join('\n')}`)
    }
  })

  it('keeps the stream label bounded', async () => {
    const group = createDeliveryGroup([])
    for (let i = 0; i < 100; i++) group.hooks.recorded(`s${i}`, [{ status: 'sent', bounceCategory: null }])
    const sent = (await lines(group)).filter((l) => l.startsWith('hikyaku_deliveries_total') && l.includes('outcome="sent"'))
    assert.equal(sent.length, 65, '64 streams and `other`')
    assert.ok(sent.includes('hikyaku_deliveries_total{stream="other",outcome="sent",bounce_category="none"} 36'))
  })
})

describe('HTTP group', () => {
  it('labels by route pattern, a known method or `other`, and status class', async () => {
    const group = createHttpGroup()
    group.hooks.observe('/v1/emails', 'POST', 202, 0.003)
    group.hooks.observe('/v1/emails', 'POST', 202, 0.02)
    group.hooks.observe('/v1/emails/:id', 'BREW', 404, 0.001)
    group.hooks.observe('unmatched', 'GET', 999, 0.001)
    const out = await lines(group)
    assert.ok(out.includes('hikyaku_http_request_duration_seconds_count{route="/v1/emails",method="POST",status_class="2xx"} 2'))
    assert.ok(
      out.includes('hikyaku_http_request_duration_seconds_bucket{le="0.005",route="/v1/emails",method="POST",status_class="2xx"} 1'),
    )
    assert.ok(out.includes('hikyaku_http_request_duration_seconds_count{route="/v1/emails/:id",method="other",status_class="4xx"} 1'))
    assert.ok(out.includes('hikyaku_http_request_duration_seconds_count{route="unmatched",method="GET",status_class="5xx"} 1'))
  })

  it('times at most 500 routes apart; more share `other`', async () => {
    const group = createHttpGroup()
    for (let i = 0; i < 510; i++) group.hooks.observe(`/r${i}`, 'GET', 200, 0.001)
    const counts = (await lines(group)).filter((l) => l.startsWith('hikyaku_http_request_duration_seconds_count'))
    assert.equal(counts.length, 501)
    assert.ok(counts.includes('hikyaku_http_request_duration_seconds_count{route="other",method="GET",status_class="2xx"} 10'))
  })
})

describe('SMTP submission and inbound groups', () => {
  it('reads a reply code as accepted, tempfail or rejected', () => {
    assert.deepEqual([250, 421, 451, 535, 550].map(smtpResult), ['accepted', 'tempfail', 'tempfail', 'rejected', 'rejected'])
  })

  it('counts answers by stage and result, latency only for messages read whole', async () => {
    const group = createSubmissionGroup()
    group.hooks.message(250, 0.01)
    group.hooks.message(451, 0.2)
    group.hooks.message(552)
    group.hooks.refusedAtMail(451)
    group.hooks.authFailed()
    const out = await lines(group)
    for (const line of [
      'hikyaku_smtp_submissions_total{stage="data",result="accepted"} 1',
      'hikyaku_smtp_submissions_total{stage="data",result="tempfail"} 1',
      'hikyaku_smtp_submissions_total{stage="data",result="rejected"} 1',
      'hikyaku_smtp_submissions_total{stage="mail",result="tempfail"} 1',
      'hikyaku_smtp_submission_seconds_count{result="accepted"} 1',
      'hikyaku_smtp_submission_seconds_count{result="rejected"} 0',
      'hikyaku_smtp_auth_failures_total 1',
    ]) {
      assert.ok(out.includes(line), `${line}\nin:\n${out.join('\n')}`)
    }
  })

  it('counts reports by kind; an unknown kind as unrecognized', async () => {
    const group = createInboundGroup()
    group.hooks.report('dsn', true)
    group.hooks.report('something-else', false)
    const out = await lines(group)
    assert.ok(out.includes('hikyaku_inbound_reports_total{kind="dsn",matched="true"} 1'))
    assert.ok(out.includes('hikyaku_inbound_reports_total{kind="unrecognized",matched="false"} 1'))
  })
})

describe('metrics listener helpers', () => {
  const expected = createHash('sha256').update('s3cret-token').digest()

  it('takes only `Bearer <the token>`', () => {
    assert.equal(bearerMatches('Bearer s3cret-token', expected), true)
    assert.equal(bearerMatches('bearer  s3cret-token', expected), true, 'the scheme is case-insensitive')
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic s3cret-token', 'Bearer s3cret-tokenx', 'Bearer s3cret token']) {
      assert.equal(bearerMatches(header, expected), false, String(header))
    }
  })

  it('names the process kind and gives each its default port', () => {
    assert.equal(processKind(['worker']), 'worker')
    assert.equal(processKind(['worker', 'api', 'smtp', 'inbound', 'webhooks']), 'all')
    assert.deepEqual(DEFAULT_METRICS_PORTS, { api: 9464, all: 9464, worker: 9465, smtp: 9466, inbound: 9467, webhooks: 9468 })
  })
})
