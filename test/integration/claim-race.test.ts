import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { createDeliveryRepository } from '../../src/modules/delivery/delivery.repository.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness } from '../helpers/harness.js'

/**
 * The DATA mark against a takeover claim that started before it and reaches the row after it has
 * committed (the claim's statement held up on another delivery's row meanwhile). The mark must
 * make that claim leave the recipient alone; otherwise the first worker sends its final dot while
 * the second sends the message again, and nobody is flagged.
 */
describe('a DATA mark racing a takeover claim', () => {
  let h: Harness
  let blocker: pg.Client

  before(async () => {
    h = await startHarness({ worker: false })
    blocker = new pg.Client({ connectionString: h.config.databaseUrl })
    await blocker.connect()
  })
  after(async () => {
    await blocker.end()
    await h.close()
  })

  it('the claim that waited leaves the marked recipient to the worker that marked it', async () => {
    const deliveryOf = async (to: string) => {
      const id = (await h.send(basicEmail({ to }))).body.id as string
      const { rows } = await h.container.pool.query('SELECT delivery_id FROM recipients WHERE email_id = $1', [id])
      return rows[0].delivery_id as string
    }
    const other = await deliveryOf('other@example.net')
    const mine = await deliveryOf('mine@example.net')
    const workerA = createDeliveryRepository(h.container.pool, { leaseMs: 1_000 })
    const workerB = createDeliveryRepository(h.container.pool, { leaseMs: 60_000 })

    const claimed = await workerA.claim([{ deliveryId: mine, attempt: 1 }])
    const held = claimed.recipients.map((r) => ({ recipientId: r.id, attempt: r.attempt, attemptId: r.attemptId }))
    assert.equal(held.length, 1)
    // A's lease lapses (its renewals stalled, say) before it reaches its final dot.
    await new Promise((resolve) => setTimeout(resolve, 1_300))

    // B's claim statement starts now but is held up on the other delivery's row first.
    await blocker.query('BEGIN')
    await blocker.query('SELECT id FROM recipients WHERE delivery_id = $1 FOR UPDATE', [other])
    const takeover = workerB.claim([
      { deliveryId: other, attempt: 1 },
      { deliveryId: mine, attempt: 2 },
    ])
    await waitFor(
      'the takeover claim to wait on the locked row',
      async () => {
        const { rows } = await h.container.pool.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        return rows[0].n > 0 ? true : undefined
      },
      5_000,
      20,
    )
    // Meanwhile A marks DATA (it still holds the recipient: nobody has taken it yet) and commits.
    const stillHeld = await workerA.markData(held)
    assert.equal(stillHeld.size, 1, 'A still held the recipient when it marked')
    await blocker.query('COMMIT')

    const taken = await takeover
    assert.deepEqual(
      taken.recipients.map((r) => r.deliveryId),
      [other],
      'the takeover claim must not take the recipient A has just marked and is sending to',
    )
    const { rows } = await h.container.pool.query(
      'SELECT status, attempt_count, possible_duplicate FROM recipients WHERE delivery_id = $1',
      [mine],
    )
    assert.deepEqual(rows[0], { status: 'sending', attempt_count: 1, possible_duplicate: false })
  })
})
