import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { formatMailbox, parseMailbox } from '../../src/lib/address.js'

const ok = (input: string) => {
  const r = parseMailbox(input)
  assert.ok(r.ok, `${input}: ${!r.ok && r.reason}`)
  return r.mailbox
}
const bad = (input: string, reason: RegExp) => {
  const r = parseMailbox(input)
  assert.ok(!r.ok, `${input} should be refused`)
  assert.match(r.reason, reason)
}

describe('parseMailbox', () => {
  it('accepts a bare address and lower-cases the domain only', () => {
    assert.deepEqual(ok('Ada.Lovelace@Example.COM'), { address: 'Ada.Lovelace@example.com', domain: 'example.com' })
  })
  it('accepts "Name <addr>" and quoted names', () => {
    assert.deepEqual(ok('"Lovelace, Ada" <ada@example.com>'), { name: 'Lovelace, Ada', address: 'ada@example.com', domain: 'example.com' })
  })
  it('converts IDN domains to their A-label', () => {
    assert.equal(ok('info@日本語.jp').address, 'info@xn--wgv71a119e.jp')
  })
  it('accepts quoted local parts', () => {
    assert.equal(ok('"john doe"@example.com').address, '"john doe"@example.com')
  })
  it('refuses CR/LF anywhere', () => bad('ada@example.com\r\nBcc: x@evil.com', /line breaks/))
  it('refuses a missing @', () => bad('ada.example.com', /not an email address/))
  it('refuses a bad local part', () => bad('a..b@example.com', /local part/))
  it('refuses a single-label domain', () => bad('ada@localhost', /invalid domain/))
  it('refuses a domain with a bad label', () => bad('ada@-bad-.com', /invalid domain/))
  it('refuses unbalanced brackets', () => bad('Ada <ada@example.com', /angle brackets/))
  it('refuses a ">" without "<" and a ">" inside the brackets', () => {
    bad('ada@example.com>', /angle brackets/)
    bad('Ada <a>b@example.com>', /angle brackets/)
    bad('Ada <ada@example.com> x', /angle brackets/)
  })
  it('takes the address from the last "<", so a quoted name may hold brackets', () => {
    assert.deepEqual(ok('"Ada <admin>" <ada@example.com>'), { name: 'Ada <admin>', address: 'ada@example.com', domain: 'example.com' })
  })
  it('accepts brackets without a name, without a space, and with spaces inside', () => {
    assert.deepEqual(ok('<ada@example.com>'), { address: 'ada@example.com', domain: 'example.com' })
    assert.equal(ok('Ada<ada@example.com>').name, 'Ada')
    assert.deepEqual(ok('  Ada \t < ada@example.com >  '), { name: 'Ada', address: 'ada@example.com', domain: 'example.com' })
  })
  it('refuses empty brackets as a missing address', () => bad('Ada <>', /not an email address/))
  it('refuses Unicode line separators in the display name', () => {
    bad('Ada\u2028Bcc: x <ada@example.com>', /line breaks/)
    bad('Ada\u2029Lovelace <ada@example.com>', /line breaks/)
  })
  it('refuses a local part over 64 octets', () => bad(`${'a'.repeat(65)}@example.com`, /64 octets/))
})

describe('formatMailbox', () => {
  it('quotes names that need quoting', () => {
    assert.equal(
      formatMailbox({ name: 'Lovelace, Ada', address: 'a@example.com', domain: 'example.com' }),
      '"Lovelace, Ada" <a@example.com>',
    )
    assert.equal(formatMailbox({ name: 'Ada', address: 'a@example.com', domain: 'example.com' }), 'Ada <a@example.com>')
  })
})

/**
 * Shapes that made the old `/^(.*?)\s*<([^<>]*)>$/` backtrack (runs of whitespace with no "<" to
 * end them), and shapes aimed at the other checks (dot-atom, quoted local part, domain labels).
 */
const ADVERSARIAL: Array<[string, (n: number) => string]> = [
  ['spaces between two letters', (n) => `a${' '.repeat(n - 2)}a`],
  ['spaces, then a final ">"', (n) => `a${' '.repeat(n - 3)}a>`],
  ['tabs and spaces', (n) => `a${' \t'.repeat((n - 2) / 2)}a`],
  ['"<" and spaces, no final ">"', (n) => `${'< '.repeat(n / 2)}`],
  ['dots in the local part', (n) => `${'a.'.repeat((n - 12) / 2)}@example.com`],
  ['escapes in a quoted local part', (n) => `"${'\\"'.repeat((n - 14) / 2)}@example.com`],
  ['one long domain label', (n) => `a@${'-'.repeat(n - 6)}.com`],
]

/**
 * Microseconds per parse of `inputs`: the best of several rounds after a warm-up. The minimum is
 * what the code costs; a busy machine only ever adds to it, so it is stable where a mean is not.
 */
function microsPerParse(inputs: string[], callsPerRound: number, rounds = 9): number {
  for (const input of inputs) for (let i = 0; i < 20; i++) parseMailbox(input)
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < rounds; round++) {
    const start = performance.now()
    for (let i = 0; i < callsPerRound; i++) for (const input of inputs) parseMailbox(input)
    best = Math.min(best, ((performance.now() - start) * 1000) / (callsPerRound * inputs.length))
  }
  return best
}

describe('parseMailbox cost', () => {
  it('grows linearly with the input: 4× longer adversarial inputs cost well under 16× (quadratic)', () => {
    const ratios = ADVERSARIAL.map(([shape, make]) => {
      const short = make(250)
      const long = make(1000)
      assert.ok(long.length >= 990 && long.length <= 1010, `${shape}: ${long.length} characters`)
      return { shape, ratio: microsPerParse([long], 100) / microsPerParse([short], 100) }
    })
    for (const { shape, ratio } of ratios) assert.ok(ratio < 8, `${shape}: 4× the input cost ${ratio.toFixed(1)}× the time`)
  })

  it('parses a 998-character adversarial address in well under a millisecond', () => {
    const input = `a${' '.repeat(996)}a`
    const micros = microsPerParse([input], 100)
    assert.ok(micros < 200, `${micros.toFixed(1)} µs per parse`)
  })
})
