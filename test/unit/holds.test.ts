import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { RecipientOutcome } from '../../src/modules/delivery/delivery.types.js'
import { HOLD_MS, holdingRule, holdTarget } from '../../src/modules/delivery/holds.js'
import type { RuleMatch } from '../../src/modules/delivery/reply-rules.js'
import { senderKey } from '../../src/modules/delivery/route.js'
import type { MxTicket } from '../../src/modules/delivery/transport.port.js'

const outcome = (rule?: RuleMatch): RecipientOutcome => ({
  status: 'deferred',
  phase: 'done',
  possibleDuplicate: false,
  relayUnavailable: false,
  throttled: false,
  ...(rule ? { rule } : {}),
})

describe('holds', () => {
  it('only rules about a sender or a recipient domain, of a holding class, hold', () => {
    assert.equal(holdingRule([outcome({ id: 'x', class: 'policy_block', scope: 'destination' })]), undefined)
    assert.equal(holdingRule([outcome({ id: 'x', class: 'content', scope: 'sender' })]), undefined)
    assert.equal(holdingRule([outcome()]), undefined)
    const rule = holdingRule([outcome({ id: 'google.authentication', class: 'sender_config', scope: 'sender' })])
    assert.equal(rule?.id, 'google.authentication')
  })

  it('the rule asking for the longest hold speaks for the attempt', () => {
    const rule = holdingRule([
      outcome({ id: 'short', class: 'sender_config', scope: 'sender' }),
      outcome({ id: 'long', class: 'policy_block', scope: 'recipient_domain' }),
      outcome({ id: 'given', class: 'reputation', scope: 'sender', pauseMs: HOLD_MS.sender + 1 }),
    ])
    assert.equal(rule?.id, 'long', `the recipient domain's default (${HOLD_MS.recipient_domain} ms) is the longest`)
  })

  it('a sender hold is on the account’s From domain, a recipient-domain hold on the delivery’s domain', () => {
    const ticket = { domain: 'tenant.example', plan: { kind: 'hosts', hosts: [] }, factor: 1 } as unknown as MxTicket
    const email = { accountId: 'acct', fromHeader: 'News <News@Mail.Example.com>' }
    assert.equal(holdTarget({ id: 'a', class: 'sender_config', scope: 'sender' }, ticket, email), 'acct/mail.example.com')
    assert.equal(holdTarget({ id: 'b', class: 'policy_block', scope: 'recipient_domain' }, ticket, email), 'tenant.example')
    assert.equal(senderKey({ accountId: 'acct', fromHeader: 'nobody' }), '', 'no domain, no hold')
  })
})
