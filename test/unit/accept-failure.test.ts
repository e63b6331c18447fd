import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AppError } from '../../src/lib/errors.js'
import { isOwnEmailDuplicate, MAYBE_ACCEPTED, NOTHING_ACCEPTED, settleFailedAccept } from '../../src/modules/emails/email.accept.js'

/** The accept batcher's decision when a commit fails (review finding 6). */
const ids = ['0190a0b0-0000-7000-8000-000000000001', '0190a0b0-0000-7000-8000-000000000002', '0190a0b0-0000-7000-8000-000000000003']

const pgError = (code: string, fields: Record<string, string> = {}) => Object.assign(new Error(`pg ${code}`), { code, ...fields })
const unavailableError = () => new AppError('unavailable', 'The database is unavailable; retry shortly.', { retryAfter: 5 })

const outcome = (settled: Awaited<ReturnType<typeof settleFailedAccept>>) =>
  settled === 'isolate' ? 'isolate' : settled.map((s) => (s.ok ? 'ok' : `${(s.error as AppError).code}: ${(s.error as AppError).message}`))

describe('settleFailedAccept', () => {
  for (const [what, err] of [
    ['the repository said unavailable', unavailableError()],
    ['a raw connection reset', pgError('ECONNRESET')],
    ['the connection ended', new Error('Connection terminated unexpectedly')],
    ['a client query timeout', new Error('Query read timeout')],
    ['a statement timeout', pgError('57014')],
  ] as const) {
    it(`${what}: asks which ids exist, once, and answers from that, never isolating`, async () => {
      const asked: string[][] = []
      const settled = await settleFailedAccept(ids, err, async (batch) => {
        asked.push(batch)
        return new Set([ids[0] as string, ids[2] as string])
      })
      assert.deepEqual(asked, [ids])
      assert.deepEqual(outcome(settled), ['ok', `unavailable: ${NOTHING_ACCEPTED}`, 'ok'])
    })
  }

  it('a failed existence check gives everyone 503, saying the outcome is unknown', async () => {
    const settled = await settleFailedAccept(ids, unavailableError(), async () => {
      throw unavailableError()
    })
    assert.deepEqual(
      outcome(settled),
      ids.map(() => `unavailable: ${MAYBE_ACCEPTED}`),
    )
    for (const s of settled === 'isolate' ? [] : settled) assert.equal(s.ok ? undefined : (s.error as AppError).retryAfter, 5)
  })

  it('other errors isolate the batch; an item alone that hits its own emails_pkey was committed', async () => {
    const never = async (): Promise<Set<string>> => assert.fail('no existence check for a non-connection error')
    assert.equal(await settleFailedAccept(ids, pgError('22P02'), never), 'isolate')
    const duplicate = pgError('23505', { constraint: 'emails_pkey', detail: `Key (id)=(${ids[1]}) already exists.` })
    assert.equal(await settleFailedAccept(ids, duplicate, never), 'isolate', 'a batch is still isolated')
    assert.deepEqual(outcome(await settleFailedAccept([ids[1] as string], duplicate, never)), ['ok'])
    // Another id, or another constraint, is a real failure of this item.
    assert.equal(await settleFailedAccept([ids[0] as string], duplicate, never), 'isolate')
    const recipient = pgError('23505', { constraint: 'recipients_pkey', detail: `Key (id)=(${ids[1]}) already exists.` })
    assert.equal(await settleFailedAccept([ids[1] as string], recipient, never), 'isolate')
  })

  it('isOwnEmailDuplicate needs the code, the constraint and the id', () => {
    const detail = `Key (id)=(${ids[0]}) already exists.`
    assert.ok(isOwnEmailDuplicate(pgError('23505', { constraint: 'emails_pkey', detail }), ids[0] as string))
    assert.ok(!isOwnEmailDuplicate(pgError('23503', { constraint: 'emails_pkey', detail }), ids[0] as string))
    assert.ok(!isOwnEmailDuplicate(new Error('duplicate'), ids[0] as string))
  })
})
