import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  parseUnsubscribeAddress,
  readUnsubscribeToken,
  unsubscribeAddress,
  unsubscribeHeaders,
  unsubscribeToken,
} from '../../src/modules/unsubscribe/unsubscribe.token.js'

const SECRET = 'a-test-secret-of-enough-length-0123456789'
const RECIPIENT = '01a22e7f-ca03-7580-b35b-92d6e94aaa7b'

describe('unsubscribe tokens', () => {
  it('name one recipient, and only with the secret', () => {
    const token = unsubscribeToken(SECRET, RECIPIENT)
    assert.match(token, /^[0-9a-f]{32}-[a-z2-7]{16}$/)
    assert.equal(readUnsubscribeToken(SECRET, token), RECIPIENT)
    assert.equal(readUnsubscribeToken(SECRET, token.toUpperCase()), RECIPIENT, 'case does not matter')
    assert.equal(readUnsubscribeToken('another-secret-of-enough-length-01234567', token), undefined)
    const other = `${token.slice(0, 31)}${token[31] === '0' ? '1' : '0'}${token.slice(32)}`
    assert.equal(readUnsubscribeToken(SECRET, other), undefined, 'another recipient with this tag is refused')
    for (const bad of ['', 'x', `${token}a`, token.replace('-', '_'), '../../etc/passwd'])
      assert.equal(readUnsubscribeToken(SECRET, bad), undefined)
  })

  it('the mailto form fits a local part and survives case changes', () => {
    const address = unsubscribeAddress(SECRET, RECIPIENT, 'bounces.example.com')
    assert.ok((address.split('@')[0] as string).length <= 64)
    assert.equal(parseUnsubscribeAddress(SECRET, address.toUpperCase()), RECIPIENT)
    assert.equal(parseUnsubscribeAddress(SECRET, `<${address}>`), RECIPIENT)
    assert.equal(parseUnsubscribeAddress(SECRET, 'bounces+abc@bounces.example.com'), undefined)
  })

  it('the header fields: an HTTPS link, a mailto when there is a domain, and One-Click', () => {
    const [list, post] = unsubscribeHeaders(SECRET, RECIPIENT, 'https://mail.example.com', 'bounces.example.com')
    assert.match(list?.[1] as string, /^<https:\/\/mail\.example\.com\/unsubscribe\/[0-9a-f]{32}-[a-z2-7]{16}>, <mailto:unsubscribe\+/)
    assert.deepEqual(post, ['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'])
    const [onlyUrl] = unsubscribeHeaders(SECRET, RECIPIENT, 'https://mail.example.com', undefined)
    assert.doesNotMatch(onlyUrl?.[1] as string, /mailto/)
  })
})
