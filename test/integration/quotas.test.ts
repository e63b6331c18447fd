import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { basicEmail, type Harness, startHarness } from '../helpers/harness.js'

/** Quotas per account and stream, counted in the real Redis: a clear 429 past them. */
describe('quotas per stream', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false, env: { STREAMS: 'broadcast day=5' } })
  })
  after(async () => {
    await h.close()
  })

  it("past the stream's daily quota: 429 rate_limited with Retry-After until midnight UTC; other streams unaffected", async () => {
    for (let i = 0; i < 4; i++) assert.equal((await h.send(basicEmail({ to: `q${i}@example.net`, stream: 'broadcast' }))).status, 202)
    // A refused send takes nothing: the fifth still fits after it.
    const invalid = await h.send(basicEmail({ to: 'not an address', stream: 'broadcast' }))
    assert.equal(invalid.status, 422)
    assert.equal((await h.send(basicEmail({ to: 'q4@example.net', stream: 'broadcast' }))).status, 202)
    const over = await h.send(basicEmail({ to: 'q5@example.net', stream: 'broadcast' }))
    assert.equal(over.status, 429, JSON.stringify(over.body))
    assert.equal(over.body.error.code, 'rate_limited')
    assert.match(over.body.error.message, /broadcast stream \(5 recipients per UTC day\)/)
    const retryAfter = Number(over.headers['retry-after'])
    const midnight = Math.ceil(
      (Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1) - Date.now()) / 1000,
    )
    assert.ok(Math.abs(retryAfter - midnight) <= 2, `Retry-After ${retryAfter}, midnight in ${midnight}`)
    assert.equal((await h.send(basicEmail({ to: 'q6@example.net' }))).status, 202, 'transactional has no quota')
  })

  it("an account's own quota overrides the stream's; a batch accepts what fits and refuses the rest by index", async () => {
    const other = await h.container.services.accounts.create('Quota account')
    await h.container.services.accounts.setQuota(other.account.id, 'transactional', { month: 3 })
    const res = await h.request('POST', '/v1/emails/batch', {
      headers: { authorization: `Bearer ${other.key}` },
      payload: {
        defaults: { from: 'a@example.com', subject: 's', text: 't' },
        emails: [1, 2, 3, 4].map((i) => ({ to: `b${i}@example.net` })),
      },
    })
    assert.equal(res.status, 202, JSON.stringify(res.body))
    assert.equal(res.body.data.length, 3)
    assert.deepEqual(
      res.body.errors.map((e: { index: number; error: { code: string } }) => [e.index, e.error.code]),
      [[3, 'rate_limited']],
    )
    const strict = await h.request('POST', '/v1/emails/batch', {
      headers: { authorization: `Bearer ${other.key}` },
      payload: { mode: 'strict', defaults: { from: 'a@example.com', subject: 's', text: 't' }, emails: [{ to: 'c@example.net' }] },
    })
    assert.equal(strict.status, 429, JSON.stringify(strict.body))
    assert.ok(Number(strict.headers['retry-after']) > 0)

    // A quota of 0 blocks the stream; setting the day keeps the month set before.
    await h.container.services.accounts.setQuota(other.account.id, 'broadcast', { month: 50 })
    const quotas = await h.container.services.accounts.setQuota(other.account.id, 'broadcast', { day: 0 })
    assert.deepEqual((quotas as Record<string, unknown>).broadcast, { day: 0, month: 50 })
    const blocked = await h.request('POST', '/v1/emails', {
      headers: { authorization: `Bearer ${other.key}` },
      payload: basicEmail({ stream: 'broadcast' }),
    })
    assert.equal(blocked.status, 429, JSON.stringify(blocked.body))
    assert.match(blocked.body.error.message, /may not send in the broadcast stream/)
  })
})
