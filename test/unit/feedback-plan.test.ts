import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type Effect,
  mustWait,
  planReport,
  type ReportTarget,
  UNCORROBORATED_SUPPRESSION_MS,
} from '../../src/modules/feedback/feedback.plan.js'

const target = (id: string, address = `${id}@example.net`): ReportTarget => ({
  id,
  emailId: `email-of-${id}`,
  accountId: 'acct',
  address,
  status: 'sent',
  stream: 'outbound',
})
const bounce = (t: ReportTarget, category: 'hard' | 'soft' | 'policy' = 'hard', shared = false): Effect => ({
  kind: 'bounce',
  target: t,
  shared,
  category,
  status: '5.1.1',
})
const complaint = (t: ReportTarget): Effect => ({ kind: 'complaint', target: t, shared: false, feedbackType: 'abuse' })
const delay = (t: ReportTarget): Effect => ({ kind: 'delay', target: t, shared: false, status: '4.2.2' })

describe('planReport', () => {
  it('bounces a sent or delivered recipient once, even when two reports of one batch name it', () => {
    const a = target('a')
    const statusOf = new Map([['a', 'delivered']])
    const complained = new Set<string>()
    const first = planReport('r1', [bounce(a)], statusOf, complained, 0)
    const second = planReport('r2', [bounce(a)], statusOf, complained, 0)
    assert.deepEqual(
      first.events.map((e) => [e.type, e.data.bounce_category, e.data.async, e.data.report_id]),
      [['email.bounced', 'hard', true, 'r1']],
    )
    assert.equal(first.bounced.length, 1)
    assert.equal(first.bounced[0]?.emailId, 'email-of-a')
    assert.equal(statusOf.get('a'), 'bounced')
    assert.deepEqual(second, { events: [], bounced: [], suppress: [] })
  })

  it('suppresses for good on a hard bounce, for a while when the return path was shared, never on soft or policy', () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => target(id)) as [ReportTarget, ReportTarget, ReportTarget, ReportTarget]
    const statusOf = new Map(['a', 'b', 'c', 'd'].map((id) => [id, 'sent']))
    const w = planReport('r', [bounce(a), bounce(b, 'hard', true), bounce(c, 'soft'), bounce(d, 'policy')], statusOf, new Set(), 1_000)
    assert.equal(w.bounced.length, 4)
    assert.deepEqual(
      w.suppress.map((s) => [s.address, s.reason, s.stream, s.expiresAt?.getTime() ?? null]),
      [
        ['a@example.net', 'hard_bounce', null, null],
        ['b@example.net', 'hard_bounce', null, 1_000 + UNCORROBORATED_SUPPRESSION_MS],
      ],
    )
  })

  it('leaves queued, bounced and failed recipients as they are; a delay is an event only', () => {
    const [a, b] = [target('a'), target('b')]
    const statusOf = new Map([
      ['a', 'failed'],
      ['b', 'delivered'],
    ])
    const w = planReport('r', [bounce(a), delay(b)], statusOf, new Set(), 0)
    assert.deepEqual(
      w.events.map((e) => [e.recipientId, e.type]),
      [['b', 'email.deferred']],
    )
    assert.equal(w.bounced.length, 0)
    assert.equal(statusOf.get('b'), 'delivered')
  })

  it('adds one complaint per recipient, whatever its status, and suppresses it', () => {
    const a = target('a')
    const complained = new Set<string>()
    const statusOf = new Map([['a', 'bounced']])
    const w = planReport('r', [complaint(a), complaint(a)], statusOf, complained, 0)
    assert.deepEqual(
      w.events.map((e) => e.type),
      ['email.complained'],
    )
    assert.deepEqual(
      w.suppress.map((s) => s.reason),
      ['complaint'],
    )
    assert.ok(complained.has('a'))
    assert.equal(planReport('r2', [complaint(a)], statusOf, complained, 0).events.length, 0)
  })

  it('makes a report about a recipient still being sent wait, unless it is a complaint', () => {
    const a = target('a')
    const statusOf = new Map([['a', 'sending']])
    assert.equal(mustWait([bounce(a)], statusOf), true)
    assert.equal(mustWait([delay(a)], statusOf), true)
    assert.equal(mustWait([complaint(a)], statusOf), false)
    assert.equal(mustWait([bounce(a)], new Map([['a', 'sent']])), false)
  })
})
