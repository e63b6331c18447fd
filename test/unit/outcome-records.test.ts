import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ClaimedRecipient, RecipientOutcome } from '../../src/modules/delivery/delivery.types.js'
import { toRecord } from '../../src/modules/delivery/outcome.records.js'
import type { ReplyClass } from '../../src/modules/delivery/reply-rules.js'
import { parseReply } from '../../src/modules/delivery/smtp-reply.classify.js'

const recipient = { id: 'r', attemptId: 'a', attempt: 1, emailId: 'e', accountId: 'acct', address: 'x@example.net' } as ClaimedRecipient
const session = { remoteHost: 'mx.example.net [127.0.0.9]', durationMs: 5 }

const outcome = (raw: string, cls: ReplyClass | undefined, status: RecipientOutcome['status']): RecipientOutcome => ({
  status,
  phase: 'data',
  reply: parseReply(raw),
  possibleDuplicate: false,
  relayUnavailable: false,
  throttled: false,
  ...(cls ? { rule: { id: `test.${cls}`, class: cls, scope: 'destination' as const } } : {}),
})

describe('toRecord and reply rules', () => {
  it('only a bounce about the address itself is hard (and so suppresses)', () => {
    const opts = { retryAt: undefined, direct: true, throttled: false }
    // A 5.1.1-looking text that a rule says is about our configuration or the message: not hard.
    for (const cls of ['sender_config', 'content', 'policy_block', 'reputation'] as const) {
      const rec = toRecord(recipient, outcome('550 5.1.1 blocked', cls, 'bounced'), session, opts)
      assert.equal(rec.bounceCategory, 'policy', cls)
      assert.equal(rec.eventData.rule_class, cls)
    }
    assert.equal(toRecord(recipient, outcome('550 5.7.1 whatever', 'recipient', 'bounced'), session, opts).bounceCategory, 'hard')
    assert.equal(toRecord(recipient, outcome('550 5.1.1 User unknown', undefined, 'bounced'), session, opts).bounceCategory, 'hard')
  })

  it('a deferral says why: a block, our configuration, a pause or a retry', () => {
    const retryAt = new Date(Date.now() + 60_000)
    const reason = (cls: ReplyClass | undefined, throttled = false) =>
      toRecord(recipient, outcome('451 4.7.0 later', cls, 'deferred'), session, { retryAt, direct: true, throttled }).reason
    assert.equal(reason('policy_block', true), 'destination_blocked')
    assert.equal(reason('sender_config'), 'sender_config')
    assert.equal(reason('capacity', true), 'waiting_rate_limit')
    assert.equal(reason(undefined), 'waiting_retry')
  })
})
