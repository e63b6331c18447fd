import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fromDomain } from '../../src/lib/address.js'
import { wants } from '../../src/modules/webhooks/webhook.match.js'
import { nextWebhookAttempt } from '../../src/modules/webhooks/webhook.schedule.js'

const endpoint = { id: 'e', createdAt: new Date(1_000), eventTypes: [], streams: [], domains: [], tags: {} }
const event = {
  id: 'v',
  txid: '1',
  type: 'email.sent',
  createdAt: new Date(2_000),
  stream: 'transactional',
  fromHeader: 'News <News@Mail.Example.com>',
  tags: { plan: 'pro', region: 'jp' },
}

describe('webhook filters', () => {
  it('reads the sending domain of a From header', () => {
    assert.equal(fromDomain('News <News@Mail.Example.com>'), 'mail.example.com')
    assert.equal(fromDomain('a@b.example'), 'b.example')
    assert.equal(fromDomain('"x@y" <a@c.example>'), 'c.example')
    assert.equal(fromDomain('nobody'), '')
  })

  it('sends everything to an endpoint without filters, nothing from before it existed', () => {
    assert.equal(wants(endpoint, event), true)
    assert.equal(wants({ ...endpoint, createdAt: new Date(3_000) }, event), false)
  })

  it('requires every filter that is set', () => {
    assert.equal(wants({ ...endpoint, eventTypes: ['email.bounced'] }, event), false)
    assert.equal(wants({ ...endpoint, eventTypes: ['email.bounced', 'email.sent'] }, event), true)
    assert.equal(wants({ ...endpoint, streams: ['broadcast'] }, event), false)
    assert.equal(wants({ ...endpoint, domains: ['mail.example.com'] }, event), true)
    assert.equal(wants({ ...endpoint, domains: ['example.com'] }, event), false)
    assert.equal(wants({ ...endpoint, tags: { plan: 'pro' } }, event), true)
    assert.equal(wants({ ...endpoint, tags: { plan: 'pro', region: 'us' } }, event), false)
  })
})

describe('webhook retry schedule', () => {
  it('waits each step with ±20 % jitter and gives up after the last', () => {
    const schedule = [5_000, 30_000]
    assert.equal(nextWebhookAttempt(schedule, 1, 0, () => 0)?.getTime(), 4_000)
    assert.equal(nextWebhookAttempt(schedule, 1, 0, () => 1)?.getTime(), 6_000)
    assert.equal(nextWebhookAttempt(schedule, 2, 0, () => 0.5)?.getTime(), 30_000)
    assert.equal(nextWebhookAttempt(schedule, 3, 0), null)
  })
})
