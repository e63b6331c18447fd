import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { basicEmail, type Harness, startHarness } from '../helpers/harness.js'

/**
 * Authentication, scopes and tenant isolation (see the API reference): Bearer hk_<keyId>_<secret>, 401 for
 * anything but an active key, 403 for send-only keys outside sending, 404 across accounts.
 */

/** What `h.send` answers: status, parsed body and headers. */
type Reply = Awaited<ReturnType<Harness['send']>>

/** The error envelope every error shares, with the request id echoed in `x-request-id`. */
function assertError(res: Reply, status: number, code: string): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`)
  assert.deepEqual(Object.keys(res.body).sort(), ['error', 'request_id'])
  assert.equal(res.body.error.code, code)
  assert.equal(typeof res.body.error.message, 'string')
  assert.ok(res.body.error.message.length > 0, 'the error has a message')
  assert.equal(typeof res.body.request_id, 'string')
  assert.ok(res.body.request_id.length > 0)
  assert.equal(res.headers['x-request-id'], res.body.request_id)
}

const alnum = (n: number) =>
  randomBytes(n * 2)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, n)
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

describe('API authentication and authorisation', () => {
  let h: Harness

  /** Any request through the real HTTP app. */
  async function call(method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string>, payload?: object): Promise<Reply> {
    return h.request(method, url, { headers, payload })
  }

  /** Creates a key through the API with the harness's full-access key. */
  async function createKey(scope: 'full' | 'send', name = `${scope} key`): Promise<{ key: string; id: string }> {
    const res = await call('POST', '/v1/api-keys', h.auth, { scope, name })
    assert.equal(res.status, 201, JSON.stringify(res.body))
    assert.equal(res.body.api_key.scope, scope)
    return { key: res.body.key, id: res.body.api_key.id }
  }

  before(async () => {
    h = await startHarness({ worker: false })
  })
  after(async () => {
    await h.close()
  })

  it('no Authorization header → 401 unauthorized', async () => {
    const list = await call('GET', '/v1/emails', {})
    assertError(list, 401, 'unauthorized')
    assert.match(list.body.error.message, /Bearer/)
    assertError(await call('POST', '/v1/emails', {}, basicEmail()), 401, 'unauthorized')
  })

  it('a malformed Authorization header → 401 unauthorized', async () => {
    const malformed = [
      `Basic ${Buffer.from(`api:${h.key}`).toString('base64')}`,
      h.key, // the key without the Bearer scheme
      'Bearer',
      'Bearer not-a-hikyaku-key',
      `Bearer ${h.key.replace(/^hk_/, 'sk_')}`,
      `Bearer ${h.key}x`,
      `Bearer ${h.key} extra`,
    ]
    for (const authorization of malformed) {
      const res = await call('GET', '/v1/emails', { authorization })
      assert.equal(res.status, 401, `${JSON.stringify(authorization)} → ${res.status}`)
      assertError(res, 401, 'unauthorized')
    }
  })

  it('a well-formed but unknown key → 401, and so is a known key id with the wrong secret', async () => {
    assertError(await call('GET', '/v1/emails', bearer(`hk_${alnum(12)}_${alnum(40)}`)), 401, 'unauthorized')
    const [, keyId] = h.key.split('_')
    assertError(await call('GET', '/v1/emails', bearer(`hk_${keyId}_${alnum(40)}`)), 401, 'unauthorized')
    // The real key still works: the 401s above are about the tokens, not the route.
    assert.equal((await call('GET', '/v1/emails', h.auth)).status, 200)
  })

  it('a revoked key → 401 on its very next request', async () => {
    const temp = await createKey('full', 'temporary')
    assert.equal((await call('GET', '/v1/emails', bearer(temp.key))).status, 200)

    const revoked = await call('DELETE', `/v1/api-keys/${temp.id}`, h.auth)
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body))
    assert.equal(revoked.body.id, temp.id)
    assert.equal(typeof revoked.body.revoked_at, 'string')

    assertError(await call('GET', '/v1/emails', bearer(temp.key)), 401, 'unauthorized')
    assertError(await call('POST', '/v1/emails', bearer(temp.key), basicEmail()), 401, 'unauthorized')
    assert.equal((await call('GET', '/v1/emails', h.auth)).status, 200, 'other keys of the account are unaffected')
  })

  it('a send-scope key can send but nothing else → 403 forbidden', async () => {
    const send = await createKey('send')
    const sent = await call('POST', '/v1/emails', bearer(send.key), basicEmail())
    assert.equal(sent.status, 202, JSON.stringify(sent.body))
    const id = sent.body.id as string

    const refused: Array<['GET' | 'POST' | 'DELETE', string, object?]> = [
      ['GET', '/v1/emails'],
      ['GET', `/v1/emails/${id}`],
      ['GET', `/v1/emails/${id}/events`],
      ['POST', `/v1/emails/${id}/cancel`],
      ['GET', '/v1/api-keys'],
      ['POST', '/v1/api-keys', { scope: 'full' }],
      ['DELETE', `/v1/api-keys/${send.id}`],
    ]
    for (const [method, url, payload] of refused) {
      const res = await call(method, url, bearer(send.key), payload)
      assert.equal(res.status, 403, `${method} ${url} → ${res.status} ${JSON.stringify(res.body)}`)
      assertError(res, 403, 'forbidden')
    }
    // The refused cancel did not happen.
    assert.equal((await h.getEmail(id)).status, 'queued')
  })

  it("another account's email → 404 not_found, and absent from its list", async () => {
    const mine = await h.send(basicEmail({ to: 'private@example.net' }))
    assert.equal(mine.status, 202)
    const id = mine.body.id as string
    const other = await h.container.services.accounts.create('Other')
    const theirs = bearer(other.key)

    assertError(await call('GET', `/v1/emails/${id}`, theirs), 404, 'not_found')
    assertError(await call('GET', `/v1/emails/${id}/events`, theirs), 404, 'not_found')
    assertError(await call('POST', `/v1/emails/${id}/cancel`, theirs), 404, 'not_found')

    const list = await call('GET', '/v1/emails?limit=100', theirs)
    assert.equal(list.status, 200)
    assert.deepEqual(list.body.data, [])
    const byRecipient = await call('GET', '/v1/emails?recipient=private@example.net', theirs)
    assert.deepEqual(byRecipient.body.data, [])

    // Their keys cannot touch ours either.
    const ourKeys = await call('GET', '/v1/api-keys', h.auth)
    const ourKeyId = (ourKeys.body.data as Array<{ id: string }>)[0]?.id
    assert.ok(ourKeyId)
    assertError(await call('DELETE', `/v1/api-keys/${ourKeyId}`, theirs), 404, 'not_found')
    assert.equal((await call('GET', '/v1/emails', h.auth)).status, 200, 'our key is not revoked')

    // And the email is untouched and still ours.
    const email = await h.getEmail(id)
    assert.equal(email.id, id)
    assert.equal(email.status, 'queued')
    const ours = await call('GET', '/v1/emails?recipient=private@example.net', h.auth)
    assert.deepEqual(
      (ours.body.data as Array<{ id: string }>).map((e) => e.id),
      [id],
    )
  })

  it('GET /v1/api-keys never shows a secret', async () => {
    const created = await createKey('send', 'listed')
    const secrets = [h.key, created.key].map((token) => token.split('_')[2] as string)
    assert.ok(secrets.every((s) => s.length === 40))

    const res = await call('GET', '/v1/api-keys', h.auth)
    assert.equal(res.status, 200)
    const keys = res.body.data as Array<Record<string, unknown>>
    const listed = keys.find((k) => k.id === created.id)
    assert.ok(listed, 'the new key is listed')
    assert.equal(listed.scope, 'send')
    assert.equal(listed.name, 'listed')
    assert.equal(listed.hint, `hk_${created.key.split('_')[1]}_…`)
    for (const key of keys) {
      for (const [field, value] of Object.entries(key)) {
        for (const secret of secrets) {
          assert.ok(!String(value).includes(secret), `field ${field} of key ${key.id} contains a secret`)
        }
      }
    }
    for (const secret of secrets) assert.ok(!JSON.stringify(res.body).includes(secret), 'no secret anywhere in the listing')
  })

  it('GET /v1/api-keys pages newest first with limit and an opaque cursor; revoked keys are listed', async () => {
    const fresh = await h.container.services.accounts.create('Key paging account')
    const auth = bearer(fresh.key)
    const created: string[] = []
    for (const n of [1, 2, 3, 4]) {
      const res = await call('POST', '/v1/api-keys', auth, { scope: 'send', name: `page ${n}` })
      assert.equal(res.status, 201)
      created.push(res.body.api_key.id)
    }
    assert.equal((await call('DELETE', `/v1/api-keys/${created[1]}`, auth)).status, 200)
    const all = await call('GET', '/v1/api-keys', auth)
    assert.equal(all.status, 200)
    const everyId = (all.body.data as Array<{ id: string }>).map((k) => k.id)
    assert.equal(everyId.length, 5, 'the initial key and the four new ones, on one default page')
    assert.deepEqual(everyId.slice(0, 4), created.slice().reverse())
    assert.equal(all.body.next_cursor, null)

    const seen: string[] = []
    let cursor: string | null = null
    for (let page = 0; page < 10; page++) {
      const res = await call('GET', `/v1/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`, auth)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.ok(res.body.data.length <= 2)
      seen.push(...(res.body.data as Array<{ id: string }>).map((k) => k.id))
      cursor = res.body.next_cursor
      if (cursor === null) break
    }
    assert.deepEqual(seen, everyId)

    assertError(await call('GET', '/v1/api-keys?cursor=nonsense', auth), 422, 'validation_failed')
    assertError(await call('GET', '/v1/api-keys?limit=101', auth), 422, 'validation_failed')
  })

  it('an unknown route under /v1 → 404 in the same envelope', async () => {
    assertError(await call('GET', '/v1/nothing-here', h.auth), 404, 'not_found')
  })
})
