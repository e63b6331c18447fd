import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TransactionResult } from '../../src/modules/delivery/delivery.types.js'
import { classifyTransaction, isThrottling, parseReply } from '../../src/modules/delivery/smtp-reply.classify.js'

const session = { remoteHost: 'relay:587', durationMs: 5 }
const ok = (dataReply: string, rejected: Record<string, string> = {}): TransactionResult => ({
  ok: true,
  session,
  dataReply: parseReply(dataReply)!,
  rejected: new Map(Object.entries(rejected).map(([a, r]) => [a, parseReply(r)!])),
})
const fail = (
  phase: TransactionResult extends infer T ? (T extends { ok: false; phase: infer P } ? P : never) : never,
  reply?: string,
  errorCode?: string,
): TransactionResult => ({
  ok: false,
  session,
  phase,
  reply: reply ? parseReply(reply) : undefined,
  errorCode,
  message: 'error',
  rejected: new Map(),
})

describe('parseReply', () => {
  it('splits basic and enhanced codes', () => {
    assert.deepEqual(parseReply('550 5.1.1 <x@example.com>: Recipient address rejected: User unknown'), {
      code: 550,
      enhanced: '5.1.1',
      text: '<x@example.com>: Recipient address rejected: User unknown',
    })
  })
  it('keeps multi-line replies as one text', () => {
    const reply = parseReply(
      '421-4.7.0 [1.2.3.4] Our system has detected an unusual rate of\r\n421-4.7.0 unsolicited mail originating from your IP address.\r\n421 4.7.0 Try again later',
    )
    assert.equal(reply?.code, 421)
    assert.equal(reply?.enhanced, '4.7.0')
    assert.match(reply?.text ?? '', /unusual rate/)
  })
  it('ignores an enhanced code whose class disagrees with the basic code', () => {
    assert.deepEqual(parseReply('451 5.7.1 mixed up'), { code: 451, text: '5.7.1 mixed up' })
  })
  it('returns undefined for text that is not a reply', () => {
    assert.equal(parseReply('hello'), undefined)
  })
})

// Replies seen from real servers (Gmail, Outlook, Yahoo, Postfix, docomo), each with its class.
const TABLE: Array<[string, string, 'sent' | 'deferred' | 'bounced' | 'failed', boolean]> = [
  ['250 2.0.0 OK  1700000000 a1-20020a05 - gsmtp', 'gmail accept', 'sent', false],
  ['250 2.6.0 <id@example.com> [InternalId=1] Queued mail for delivery', 'outlook accept', 'sent', false],
  ['250 ok dirdel', 'yahoo accept', 'sent', false],
  ['550 5.1.1 The email account that you tried to reach does not exist.', 'gmail unknown user', 'bounced', false],
  ['550 5.7.26 This mail has been blocked because the sender is unauthenticated.', 'gmail auth policy', 'bounced', false],
  ['554 5.7.1 Service unavailable; Client host [1.2.3.4] blocked using Spamhaus', 'blocklist', 'bounced', false],
  ['552 5.3.4 Message size exceeds fixed limit', 'too big', 'failed', false],
  ['452 4.2.2 The email account that you tried to reach is over quota.', 'mailbox full (temporary)', 'deferred', false],
  ['451 4.7.1 Greylisting in action, please come back later', 'greylisting (4.7.x)', 'deferred', true],
  ['451 4.3.2 Please try again later', 'try again later (not a rate signal)', 'deferred', false],
  ['421 4.7.0 [TSS04] Messages from 1.2.3.4 temporarily deferred due to unexpected volume', 'yahoo throttle', 'deferred', true],
  [
    '450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages',
    'gmail rate',
    'deferred',
    true,
  ],
  ['451 4.3.0 Error: queue file write error', 'postfix local error', 'deferred', false],
]

describe('classifyTransaction over real replies', () => {
  for (const [reply, name, expected, throttled] of TABLE) {
    it(`${name}: ${reply.slice(0, 40)}… → ${expected}`, () => {
      const result = reply.startsWith('2') ? ok(reply) : fail('data', reply)
      const outcome = classifyTransaction(result, ['a@example.com']).get('a@example.com')!
      assert.equal(outcome.status, expected)
      assert.equal(outcome.throttled, throttled)
    })
  }
})

describe('classifyTransaction by phase', () => {
  it('bounces only the recipient refused at RCPT; the others get the DATA reply', () => {
    const result = ok('250 2.0.0 queued', { 'b@example.com': '550 5.1.1 unknown' })
    const outcomes = classifyTransaction(result, ['a@example.com', 'b@example.com'])
    assert.equal(outcomes.get('a@example.com')?.status, 'sent')
    assert.equal(outcomes.get('b@example.com')?.status, 'bounced')
    assert.equal(outcomes.get('b@example.com')?.phase, 'rcpt')
  })
  it('defers a recipient refused at RCPT with 4xx', () => {
    const result = ok('250 ok', { 'b@example.com': '450 4.2.1 try later' })
    assert.equal(classifyTransaction(result, ['b@example.com']).get('b@example.com')?.status, 'deferred')
  })
  it('does not slow a whole destination for one busy mailbox (RCPT-level rate reply), only for a 421', () => {
    const busy = ok('250 ok', { 'b@example.com': '450 4.2.1 The user is receiving mail at a rate that prevents additional messages' })
    assert.equal(classifyTransaction(busy, ['b@example.com']).get('b@example.com')?.throttled, false)
    const closing = ok('250 ok', { 'b@example.com': '421 4.7.0 Too many connections' })
    assert.equal(classifyTransaction(closing, ['b@example.com']).get('b@example.com')?.throttled, true)
  })
  it('bounces every recipient on a 5xx to MAIL FROM', () => {
    const outcomes = classifyTransaction(fail('mail', '553 5.7.1 Sender address rejected'), ['a@x.com', 'b@x.com'])
    assert.deepEqual(
      [...outcomes.values()].map((o) => o.status),
      ['bounced', 'bounced'],
    )
  })
  it('defers on connection refused, without a reply', () => {
    const outcome = classifyTransaction(fail('connect', undefined, 'ESOCKET'), ['a@x.com']).get('a@x.com')!
    assert.equal(outcome.status, 'deferred')
    assert.equal(outcome.possibleDuplicate, false)
  })
  it('defers and flags a possible duplicate when the connection drops after the final dot', () => {
    const outcome = classifyTransaction(fail('after_data', undefined, 'ECONNECTION'), ['a@x.com']).get('a@x.com')!
    assert.equal(outcome.status, 'deferred')
    assert.equal(outcome.possibleDuplicate, true)
  })
  it('never bounces when our relay refuses our credentials', () => {
    const outcome = classifyTransaction(
      { ...fail('auth', '535 5.7.8 Authentication credentials invalid', 'EAUTH'), ourSide: true } as TransactionResult,
      ['a@x.com'],
    ).get('a@x.com')!
    assert.equal(outcome.status, 'deferred')
    assert.equal(outcome.relayUnavailable, true)
  })
  it('never bounces when TLS is required and the relay has none', () => {
    const outcome = classifyTransaction({ ...fail('tls', undefined, 'ETLS'), ourSide: true } as TransactionResult, ['a@x.com']).get(
      'a@x.com',
    )!
    assert.equal(outcome.status, 'deferred')
    assert.equal(outcome.relayUnavailable, true)
  })
  it('defers, without blaming our relay, when a recipient MX lacks the TLS its policy requires', () => {
    const outcome = classifyTransaction(fail('tls', undefined, 'ETLS'), ['a@x.com']).get('a@x.com')!
    assert.equal(outcome.status, 'deferred')
    assert.equal(outcome.relayUnavailable, false)
  })
  it('bounces on a null MX and a nonexistent domain; fails on an MX at a private address', () => {
    assert.equal(classifyTransaction(fail('dns', '550 5.1.10 null MX'), ['a@x.com']).get('a@x.com')?.status, 'bounced')
    assert.equal(classifyTransaction(fail('dns', undefined, 'EPRIVATE'), ['a@x.com']).get('a@x.com')?.status, 'failed')
    assert.equal(classifyTransaction(fail('dns', undefined, 'EDNS'), ['a@x.com']).get('a@x.com')?.status, 'deferred')
  })
  it('defers on a 554 greeting (the server refuses service right now)', () => {
    assert.equal(classifyTransaction(fail('greeting', '554 5.3.2 not accepting mail'), ['a@x.com']).get('a@x.com')?.status, 'deferred')
  })
})

describe('isThrottling', () => {
  it('spots 421, 4.7.x and rate wording, not other 4xx', () => {
    assert.equal(isThrottling(parseReply('421 Too many connections')), true)
    assert.equal(isThrottling(parseReply('450 4.7.1 slow down')), true)
    assert.equal(isThrottling(parseReply('451 Temporary local problem')), false)
    assert.equal(isThrottling(parseReply('550 5.7.1 too many recipients')), false)
  })
})
