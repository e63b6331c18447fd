import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createDeliveryRepository } from '../../src/modules/delivery/delivery.repository.js'
import { basicEmail, type Harness, startHarness } from '../helpers/harness.js'

/**
 * A claim undone because its sender turned out to be held at the destination (a job that did
 * not name its sender): as if never made — no attempt row, the attempt count back, the
 * recipients waiting for the hold's end with its reason — and fenced like every write of a claim.
 */
describe('holding back a claim', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false })
  })
  after(async () => {
    await h.close()
  })

  const deliveryOf = async (to: string) => {
    const id = (await h.send(basicEmail({ to }))).body.id as string
    const { rows } = await h.container.pool.query('SELECT delivery_id FROM recipients WHERE email_id = $1', [id])
    return { emailId: id, deliveryId: rows[0].delivery_id as string }
  }
  const state = async (emailId: string) => {
    const { rows } = await h.container.pool.query(
      `SELECT r.status, r.reason, r.attempt_count, r.next_attempt_at, r.lease_until, e.status AS email_status,
              (SELECT count(*)::int FROM delivery_attempts a WHERE a.recipient_id = r.id) AS attempts
         FROM recipients r JOIN emails e ON e.id = r.email_id WHERE r.email_id = $1`,
      [emailId],
    )
    return rows[0]
  }

  it('undoes the claim: no attempt counted, the recipient waits for the hold with its reason', async () => {
    const { emailId, deliveryId } = await deliveryOf('held@example.net')
    const repo = createDeliveryRepository(h.container.pool, { leaseMs: 60_000 })
    const claimed = await repo.claim([{ deliveryId, attempt: 1 }])
    const held = claimed.recipients.map((r) => ({ recipientId: r.id, attempt: r.attempt, attemptId: r.attemptId }))
    assert.equal((await state(emailId)).email_status, 'sending')

    const until = new Date(Date.now() + 30 * 60_000)
    const back = await repo.holdBack(held, until, 'sender_config')
    assert.equal(back.size, 1)
    const s = await state(emailId)
    assert.deepEqual(
      [s.status, s.reason, s.attempt_count, s.attempts, s.lease_until, s.email_status],
      ['queued', 'sender_config', 0, 0, null, 'queued'],
    )
    assert.equal(new Date(s.next_attempt_at).getTime(), until.getTime())
    // The same job (attempt 1) claims it again once due.
    await h.container.pool.query('UPDATE recipients SET next_attempt_at = now() WHERE email_id = $1', [emailId])
    assert.equal((await repo.claim([{ deliveryId, attempt: 1 }])).recipients.length, 1)
  })

  it('leaves alone a claim another worker has taken over', async () => {
    const { emailId, deliveryId } = await deliveryOf('taken@example.net')
    const first = createDeliveryRepository(h.container.pool, { leaseMs: 1 })
    const claimed = await first.claim([{ deliveryId, attempt: 1 }])
    const held = claimed.recipients.map((r) => ({ recipientId: r.id, attempt: r.attempt, attemptId: r.attemptId }))
    await new Promise((resolve) => setTimeout(resolve, 20))
    const second = createDeliveryRepository(h.container.pool, { leaseMs: 60_000 })
    assert.equal((await second.claim([{ deliveryId, attempt: 2 }])).recipients.length, 1, 'the lapsed lease is taken over')
    assert.equal((await first.holdBack(held, new Date(Date.now() + 60_000), 'sender_config')).size, 0)
    const s = await state(emailId)
    assert.deepEqual([s.status, s.attempt_count, s.attempts], ['sending', 2, 2])
  })
})
