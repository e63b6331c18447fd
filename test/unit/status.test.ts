import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { aggregateStatus } from '../../src/modules/emails/email.status.js'

describe('aggregateStatus', () => {
  const cases: Array<[string[], string]> = [
    [['sent'], 'sent'],
    [['bounced', 'bounced'], 'bounced'],
    [['sent', 'queued'], 'queued'],
    [['deferred', 'queued', 'scheduled'], 'deferred'],
    [['sending', 'deferred'], 'sending'],
    [['sent', 'delivered'], 'sent'],
    [['delivered', 'delivered'], 'delivered'],
    [['sent', 'bounced'], 'partially_delivered'],
    [['bounced', 'expired', 'expired'], 'expired'],
    [['bounced', 'cancelled'], 'bounced'],
  ]
  for (const [statuses, expected] of cases) {
    it(`${statuses.join(', ')} → ${expected}`, () => {
      assert.equal(aggregateStatus(statuses as never), expected)
    })
  }
})
