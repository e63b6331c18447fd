import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { inspectSendInput, isProtectedHeader } from '../../src/modules/emails/email.validate.js'

const base = { from: 'Sender <sender@example.com>', subject: 'Hi', text: 'Hello' }
const limits = { maxRecipients: 5, maxMessageBytes: 1_000_000 }

describe('protected headers', () => {
  const refused = [
    'Resent-From',
    'resent-message-id',
    'RESENT-DATE',
    'Authentication-Results',
    'ARC-Seal',
    'ARC-Message-Signature',
    'arc-authentication-results',
    'Content-Disposition',
    'DKIM-Signature',
    'DomainKey-Signature',
    'Content-Type',
    'Received',
    'X-Hikyaku-Route',
  ]
  const allowed = ['X-Campaign', 'List-Unsubscribe', 'Archived-At', 'X-Resent-From', 'X-Authentication-Results', 'Content-Language']

  for (const name of refused) {
    it(`refuses ${name}`, () => {
      assert.equal(isProtectedHeader(name), true)
      const [detail] = inspectSendInput({ ...base, to: 'a@example.net', headers: { [name]: 'x' } }, limits).details
      assert.deepEqual(detail?.path, `/headers/${name}`)
      assert.match(detail?.message ?? '', new RegExp(`^"${name}" is set by Hikyaku and cannot be overridden`))
    })
  }

  it('allows custom headers whose names only resemble protected ones', () => {
    for (const name of allowed) assert.equal(isProtectedHeader(name), false, name)
    const { draft, details } = inspectSendInput(
      { ...base, to: 'a@example.net', headers: Object.fromEntries(allowed.map((n) => [n, 'v'])) },
      limits,
    )
    assert.deepEqual(details, [])
    assert.deepEqual(Object.keys(draft?.headers ?? {}), allowed)
  })
})
