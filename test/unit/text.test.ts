import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { storableText } from '../../src/lib/text.js'

describe('storableText', () => {
  it('drops NUL and mends unpaired surrogates', () => {
    assert.equal(storableText('a\u0000b'), 'ab')
    assert.equal(storableText('x\ud83dy'), 'x\ufffdy')
  })

  it('never leaves half a surrogate pair where it cuts (jsonb refuses one)', () => {
    const text = `${'a'.repeat(999)}😀 and more`
    const cut = storableText(text, 1_000)
    assert.ok(cut.isWellFormed(), JSON.stringify(cut.slice(-3)))
    assert.ok(cut.endsWith('…'))
    assert.equal(storableText('short 😀', 1_000), 'short 😀')
  })
})
