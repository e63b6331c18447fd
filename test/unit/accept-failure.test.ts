import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StatementFailure } from '../../src/infra/db-boundary.js'
import { AppError } from '../../src/lib/errors.js'
import { isOwnEmailDuplicate, MAYBE_ACCEPTED, NOTHING_ACCEPTED, settleFailedAccept } from '../../src/modules/emails/email.accept.js'
import type { CommitCheck, EmailKey } from '../../src/modules/emails/email.repository.js'

/** The accept batcher's decision when a commit fails (review finding 6). */
const accountId = '0190a0b0-0000-7000-8000-0000000000aa'
const ids = ['0190a0b0-0000-7000-8000-000000000001', '0190a0b0-0000-7000-8000-000000000002', '0190a0b0-0000-7000-8000-000000000003']
const emails: EmailKey[] = ids.map((id) => ({ id, accountId }))
const one = (i: number): EmailKey[] => [emails[i] as EmailKey]

const pgError = (code: string, fields: Record<string, string> = {}) => Object.assign(new Error(`pg ${code}`), { code, ...fields })
const unavailableError = () => new AppError('unavailable', 'The database is unavailable; retry shortly.', { retryAfter: 5 })

const outcome = (settled: Awaited<ReturnType<typeof settleFailedAccept>>) =>
  settled === 'isolate' ? 'isolate' : settled.map((s) => (s.ok ? 'ok' : `${(s.error as AppError).code}: ${(s.error as AppError).message}`))

describe('settleFailedAccept', () => {
  for (const [what, err] of [
    ['the repository said unavailable', unavailableError()],
    ['the statement failed on a known backend', new StatementFailure(true, 4242, pgError('ECONNRESET'))],
    ['no connection could be had', new StatementFailure(false, undefined, pgError('ECONNREFUSED'))],
    ['a raw connection reset', pgError('ECONNRESET')],
    ['the connection ended', new Error('Connection terminated unexpectedly')],
    ['a client query timeout', new Error('Query read timeout')],
    ['a statement timeout', pgError('57014')],
  ] as const) {
    it(`${what}: asks the store once, with the failure, and answers from that, never isolating`, async () => {
      const asked: Array<[unknown, EmailKey[]]> = []
      const settled = await settleFailedAccept(emails, err, async (failure, batch) => {
        asked.push([failure, batch])
        return { committed: new Set([ids[0] as string, ids[2] as string]), final: true }
      })
      assert.deepEqual(asked, [[err, emails]])
      assert.deepEqual(outcome(settled), ['ok', `unavailable: ${NOTHING_ACCEPTED}`, 'ok'])
    })
  }

  it('an answer that is not final (the backend did not exit): the ids found succeed, the others are told the outcome is unknown', async () => {
    const settled = await settleFailedAccept(
      emails,
      unavailableError(),
      async (): Promise<CommitCheck> => ({ committed: new Set([ids[1] as string]), final: false }),
    )
    assert.deepEqual(outcome(settled), [`unavailable: ${MAYBE_ACCEPTED}`, 'ok', `unavailable: ${MAYBE_ACCEPTED}`])
  })

  it('a failed check gives everyone 503, saying the outcome is unknown', async () => {
    const settled = await settleFailedAccept(emails, unavailableError(), async () => {
      throw unavailableError()
    })
    assert.deepEqual(
      outcome(settled),
      ids.map(() => `unavailable: ${MAYBE_ACCEPTED}`),
    )
    for (const s of settled === 'isolate' ? [] : settled) assert.equal(s.ok ? undefined : (s.error as AppError).retryAfter, 5)
  })

  it('other errors isolate the batch; an item alone that hits its own emails_pkey was committed', async () => {
    const never = async (): Promise<CommitCheck> => assert.fail('no check for a non-connection error')
    assert.equal(await settleFailedAccept(emails, pgError('22P02'), never), 'isolate')
    const duplicate = pgError('23505', { constraint: 'emails_pkey', detail: `Key (id)=(${ids[1]}) already exists.` })
    assert.equal(await settleFailedAccept(emails, duplicate, never), 'isolate', 'a batch is still isolated')
    assert.deepEqual(outcome(await settleFailedAccept(one(1), duplicate, never)), ['ok'])
    // Another id, or another constraint, is a real failure of this item.
    assert.equal(await settleFailedAccept(one(0), duplicate, never), 'isolate')
    const recipient = pgError('23505', { constraint: 'recipients_pkey', detail: `Key (id)=(${ids[1]}) already exists.` })
    assert.equal(await settleFailedAccept(one(1), recipient, never), 'isolate')
  })

  it('isOwnEmailDuplicate needs the code, the constraint and the id', () => {
    const detail = `Key (id)=(${ids[0]}) already exists.`
    assert.ok(isOwnEmailDuplicate(pgError('23505', { constraint: 'emails_pkey', detail }), ids[0] as string))
    assert.ok(!isOwnEmailDuplicate(pgError('23503', { constraint: 'emails_pkey', detail }), ids[0] as string))
    assert.ok(!isOwnEmailDuplicate(new Error('duplicate'), ids[0] as string))
  })
})
