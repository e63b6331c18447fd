import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
import {
  isWebhookSecret,
  newWebhookSecret,
  signatureHeader,
  WEBHOOK_USER_AGENT,
  webhookHeaders,
  webhookSecretKey,
} from '../../src/modules/webhooks/webhook.sign.js'

// Verified with the official `standardwebhooks` library: if we drift from the specification,
// these fail even when our own code agrees with itself.
const now = () => Math.floor(Date.now() / 1000)
const body = JSON.stringify({ type: 'email.delivered', data: { id: 'e1', to: 'zoë@example.com', note: 'ünïcödé ✓' } })

function verify(secret: string, headers: Record<string, string>, payload = body): unknown {
  return new Webhook(secret).verify(payload, headers)
}

describe('webhook signing', () => {
  it('makes whsec_ secrets of 32 random bytes', () => {
    const a = newWebhookSecret()
    assert.match(a, /^whsec_[A-Za-z0-9+/]{43}=$/)
    assert.equal(webhookSecretKey(a).length, 32)
    assert.notEqual(a, newWebhookSecret())
    assert.ok(isWebhookSecret(a))
  })

  it('matches the specification test vector', () => {
    const header = signatureHeader(
      ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    )
    assert.equal(header, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
  })

  it('verifies with the current secret', () => {
    const secret = newWebhookSecret()
    const headers = webhookHeaders([secret], 'msg_1', now(), body)
    assert.deepEqual(verify(secret, headers), JSON.parse(body))
    assert.equal(headers['content-type'], 'application/json')
    assert.equal(headers['user-agent'], WEBHOOK_USER_AGENT)
    assert.equal(headers['webhook-id'], 'msg_1')
    assert.match(headers['webhook-timestamp'], /^\d+$/)
    assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/)
  })

  it('signs with both secrets during a rotation overlap, the current one first', () => {
    const current = newWebhookSecret()
    const previous = newWebhookSecret()
    const ts = now()
    const headers = webhookHeaders([current, previous], 'msg_2', ts, body)
    const parts = headers['webhook-signature'].split(' ')
    assert.equal(parts.length, 2)
    assert.equal(parts[0], signatureHeader([current], 'msg_2', ts, body))
    assert.equal(parts[1], signatureHeader([previous], 'msg_2', ts, body))
    // A receiver that has the new secret, and one that still has only the old one, both verify.
    assert.deepEqual(verify(current, headers), JSON.parse(body))
    assert.deepEqual(verify(previous, headers), JSON.parse(body))
    assert.throws(() => verify(newWebhookSecret(), headers), WebhookVerificationError)
  })

  it('fails verification with a wrong secret', () => {
    const headers = webhookHeaders([newWebhookSecret()], 'msg_3', now(), body)
    assert.throws(() => verify(newWebhookSecret(), headers), WebhookVerificationError)
  })

  it('fails verification with a tampered body, id or timestamp', () => {
    const secret = newWebhookSecret()
    const ts = now()
    const headers = webhookHeaders([secret], 'msg_4', ts, body)
    assert.throws(() => verify(secret, headers, body.replace('e1', 'e2')), WebhookVerificationError)
    assert.throws(() => verify(secret, headers, `${body} `), WebhookVerificationError)
    assert.throws(() => verify(secret, { ...headers, 'webhook-id': 'msg_5' }), WebhookVerificationError)
    assert.throws(() => verify(secret, { ...headers, 'webhook-timestamp': String(ts - 1) }), WebhookVerificationError)
  })

  it('signs the exact UTF-8 bytes of the body', () => {
    const secret = newWebhookSecret()
    const headers = webhookHeaders([secret], 'msg_6', now(), body)
    assert.deepEqual(new Webhook(secret).verify(Buffer.from(body, 'utf8'), headers), JSON.parse(body))
  })

  it('refuses malformed secrets without echoing them', () => {
    const good = newWebhookSecret()
    const malformed = [
      '',
      good.slice('whsec_'.length), // no prefix
      `WHSEC_${good.slice(6)}`,
      `whsec_${good.slice(6, -1)}`, // unpadded
      `whsec_${good.slice(6).replace(/[A-Z]/, '*')}`, // a character outside base64
      `whsec_${Buffer.alloc(33, 0xfb).toString('base64url')}`, // base64url is not base64
      `whsec_${Buffer.alloc(16, 1).toString('base64')}`, // too short a key
      `whsec_${Buffer.alloc(65, 1).toString('base64')}`, // too long a key
      `whsec_ ${good.slice(6)}`,
      `${good}\n`,
    ]
    for (const secret of malformed) {
      assert.equal(isWebhookSecret(secret), false, JSON.stringify(secret))
      assert.throws(
        () => signatureHeader([good, secret], 'msg_7', now(), body),
        (err: unknown) => err instanceof Error && /malformed webhook secret/.test(err.message) && !err.message.includes(good.slice(6, 20)),
        JSON.stringify(secret),
      )
    }
    assert.ok(isWebhookSecret(`whsec_${Buffer.alloc(24, 1).toString('base64')}`))
    assert.ok(isWebhookSecret(`whsec_${Buffer.alloc(64, 1).toString('base64')}`))
  })

  it('refuses no secrets, malformed ids and timestamps that are not unix seconds', () => {
    const secret = newWebhookSecret()
    assert.throws(() => signatureHeader([], 'msg_8', now(), body), /at least one/)
    for (const id of ['', 'a.b', 'a b', 'a\r\nx-injected: 1', 'x'.repeat(129)]) {
      assert.throws(() => signatureHeader([secret], id, now(), body), /malformed webhook id/, JSON.stringify(id))
    }
    for (const ts of [-1, 1.5, Number.NaN, Date.now()]) {
      assert.throws(() => signatureHeader([secret], 'msg_8', ts, body), /malformed webhook timestamp/, String(ts))
    }
  })
})
