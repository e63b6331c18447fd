import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isDatabaseUnavailable } from '../../src/infra/db.js'
import { AppError, unavailable } from '../../src/lib/errors.js'

/** Which failures mean "the database is away" (503/451, a deferral) rather than a bug. */
describe('isDatabaseUnavailable', () => {
  const prismaError = (code: string, cause: object) =>
    Object.assign(new Error('Invalid invocation'), { name: 'PrismaClientKnownRequestError', code, meta: { driverAdapterError: { cause } } })

  it('recognises pg, node and server codes, and the driver texts', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', '57014', '57P01', '08006']) {
      assert.equal(isDatabaseUnavailable(Object.assign(new Error('x'), { code })), true, code)
    }
    assert.equal(isDatabaseUnavailable(new Error('Query read timeout')), true)
    assert.equal(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect')), true)
  })

  it("recognises Prisma's own codes and the pg error its driver adapter wraps", () => {
    assert.equal(isDatabaseUnavailable(prismaError('P1001', { kind: 'DatabaseNotReachable' })), true)
    assert.equal(isDatabaseUnavailable(prismaError('P2010', { kind: 'postgres', originalCode: '57014' })), true)
    assert.equal(isDatabaseUnavailable(prismaError('P2010', { kind: 'postgres', originalCode: '22012' })), false)
  })

  it('recognises an error already translated at a repository edge, and nothing else', () => {
    assert.equal(isDatabaseUnavailable(unavailable('The database is unavailable')), true)
    assert.equal(isDatabaseUnavailable(new AppError('internal', 'x')), false)
    assert.equal(isDatabaseUnavailable(Object.assign(new Error('duplicate'), { code: '23505' })), false)
    assert.equal(isDatabaseUnavailable(undefined), false)
    assert.equal(isDatabaseUnavailable('ECONNREFUSED'), false)
  })
})
