import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { basicEmail, type Harness, startHarness } from '../helpers/harness.js'

const count = async (h: Harness, sql: string, params: unknown[] = []): Promise<number> => {
  const db = new pg.Client({ connectionString: h.config.databaseUrl })
  await db.connect()
  try {
    const { rows } = await db.query<{ n: string }>(sql, params)
    return Number(rows[0]?.n ?? 0)
  } finally {
    await db.end()
  }
}

/** Batch sends and templates against real Postgres (no worker: what is accepted stays queued). */
describe('POST /v1/emails/batch and templates', () => {
  let h: Harness

  before(async () => {
    h = await startHarness({ worker: false })
  })
  after(async () => {
    await h.close()
  })

  const batch = (payload: object, headers: Record<string, string> = {}) =>
    h.request('POST', '/v1/emails/batch', { payload, headers: { ...h.auth, ...headers } })

  const items = (n: number, bad: number[] = []) =>
    Array.from({ length: n }, (_, i) =>
      bad.includes(i)
        ? { to: `not an address ${i}`, subject: `n${i}`, text: 'x' }
        : { to: `r${i}@example.net`, subject: `n${i}`, text: 'x' },
    )

  it('partial mode: 1,000 items with 3 bad ones → 997 accepted, 3 errors with their indexes and paths', async () => {
    const before = await count(h, 'SELECT count(*) AS n FROM emails')
    const res = await batch({ defaults: { from: 'Shop <news@example.com>' }, emails: items(1000, [3, 500, 999]) })
    assert.equal(res.status, 202, JSON.stringify(res.body).slice(0, 500))
    assert.equal(res.body.data.length, 997)
    assert.deepEqual(
      res.body.errors.map((e: { index: number }) => e.index),
      [3, 500, 999],
    )
    assert.equal(res.body.errors[0].error.code, 'validation_failed')
    assert.equal(res.body.errors[0].error.details[0].path, '/emails/3/to')
    assert.equal(res.body.data[3].index, 4, 'accepted items keep their index')
    assert.equal(await count(h, 'SELECT count(*) AS n FROM emails'), before + 997)
    assert.equal(await count(h, 'SELECT count(*) AS n FROM recipients WHERE address = $1', ['r998@example.net']), 1)
  })

  it('strict mode: one bad item → 422 listing it, and nothing accepted', async () => {
    const before = await count(h, 'SELECT count(*) AS n FROM emails')
    const res = await batch({ mode: 'strict', defaults: { from: 'news@example.com' }, emails: items(50, [7]) })
    assert.equal(res.status, 422, JSON.stringify(res.body))
    assert.equal(res.body.error.code, 'validation_failed')
    assert.equal(res.body.error.details[0].path, '/emails/7/to')
    assert.equal(await count(h, 'SELECT count(*) AS n FROM emails'), before)
  })

  it('one message to many recipients, each with their own variables, from a template; a missing variable is an item error', async () => {
    const tpl = await h.request('POST', '/v1/templates', {
      payload: {
        name: 'welcome',
        subject: 'Hello {{ name }}',
        text: 'Hi {{ name }}, your plan is {{ plan }}.',
        html: '<p>Hi {{ name }}</p>',
      },
    })
    assert.equal(tpl.status, 201, JSON.stringify(tpl.body))
    assert.deepEqual(tpl.body.variables, ['name', 'plan'])
    const res = await batch({
      defaults: { from: 'news@example.com', template: 'welcome', variables: { plan: 'Pro' } },
      emails: [
        { to: 'a@example.net', variables: { name: '<Ada>' } },
        { to: 'b@example.net', variables: {} },
      ],
    })
    assert.equal(res.status, 202, JSON.stringify(res.body))
    assert.equal(res.body.data.length, 1)
    assert.deepEqual(res.body.errors[0].error.details, [
      { path: '/emails/1/variables/name', message: '"name" is used by the template\'s subject, text and html but was not given' },
    ])
    const id = res.body.data[0].id
    const db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
    const { rows } = await db.query('SELECT subject, text, html, template_id, template_version FROM emails WHERE id = $1', [id])
    await db.end()
    assert.equal(rows[0].subject, 'Hello <Ada>', 'the subject is not HTML')
    assert.equal(rows[0].text, 'Hi <Ada>, your plan is Pro.')
    assert.equal(rows[0].html, '<p>Hi &lt;Ada&gt;</p>', 'HTML output is escaped')
    assert.equal(rows[0].template_id, tpl.body.id)
    assert.equal(rows[0].template_version, 1)
  })

  it('templates: an edit makes a new version; a send pins the version it used; render previews; errors are clear', async () => {
    const tpl = await h.request('POST', '/v1/templates', { payload: { name: 'receipt', subject: 'Receipt {{ n }}', text: 'v1 {{ n }}' } })
    const first = await h.send(basicEmail({ subject: undefined, text: undefined, template: 'receipt', variables: { n: 1 } }))
    assert.equal(first.status, 202, JSON.stringify(first.body))
    const edited = await h.request('PATCH', `/v1/templates/${tpl.body.id}`, { payload: { text: 'v2 {{ n }}' } })
    assert.equal(edited.status, 200, JSON.stringify(edited.body))
    assert.equal(edited.body.version, 2)
    const second = await h.send(basicEmail({ subject: undefined, text: undefined, template: tpl.body.id, variables: { n: 2 } }))
    assert.equal(second.status, 202)
    assert.equal(await count(h, 'SELECT template_version AS n FROM emails WHERE id = $1', [first.body.id]), 1)
    assert.equal(await count(h, 'SELECT template_version AS n FROM emails WHERE id = $1', [second.body.id]), 2)
    const old = await h.request('GET', `/v1/templates/receipt?version=1`)
    assert.equal(old.body.text, 'v1 {{ n }}')

    const preview = await h.request('POST', '/v1/templates/receipt/render', { payload: { variables: { n: '<b>' } } })
    assert.equal(preview.status, 200, JSON.stringify(preview.body))
    assert.equal(preview.body.text, 'v2 <b>')
    const missing = await h.request('POST', '/v1/templates/receipt/render', { payload: { variables: {} } })
    assert.equal(missing.status, 422)
    assert.equal(missing.body.error.details[0].path, '/variables/n')

    const broken = await h.request('POST', '/v1/templates', { payload: { name: 'broken', subject: 'x', html: '{% if %}' } })
    assert.equal(broken.status, 422)
    assert.equal(broken.body.error.details[0].path, '/html')
    const both = await h.send(basicEmail({ template: 'receipt', variables: { n: 1 } }))
    assert.equal(both.status, 422)
    assert.ok(both.body.error.details.some((d: { path: string }) => d.path === '/subject'))
    const unknown = await h.send(basicEmail({ subject: undefined, text: undefined, template: 'nope' }))
    assert.equal(unknown.status, 422)
    assert.equal(unknown.body.error.details[0].path, '/template')
    const dup = await h.request('POST', '/v1/templates', { payload: { name: 'receipt', subject: 'x', text: 'y' } })
    assert.equal(dup.status, 409)
  })

  it('idempotency: per request (replayed whole) and per item (replayed, or refused when the item differs)', async () => {
    const body = {
      defaults: { from: 'news@example.com', subject: 's', text: 't' },
      emails: [{ to: 'i1@example.net', idempotency_key: 'item-1' }],
    }
    const a = await batch(body, { 'idempotency-key': 'batch-1' })
    const b = await batch(body, { 'idempotency-key': 'batch-1' })
    assert.equal(b.status, 202)
    assert.equal(b.headers['idempotent-replayed'], 'true')
    assert.deepEqual(b.body, a.body)
    const other = await batch({ ...body, mode: 'strict' }, { 'idempotency-key': 'batch-1' })
    assert.equal(other.status, 422)
    assert.equal(other.body.error.code, 'idempotency_mismatch')

    // Without the request key, the item's own key still holds: replayed, and a changed item refused.
    const again = await batch({
      ...body,
      emails: [
        { to: 'i1@example.net', idempotency_key: 'item-1' },
        { to: 'i2@example.net', idempotency_key: 'item-2' },
      ],
    })
    assert.equal(again.status, 202, JSON.stringify(again.body))
    assert.equal(again.body.data[0].id, a.body.data[0].id)
    assert.equal(again.body.data[0].replayed, true)
    const changed = await batch({ ...body, emails: [{ to: 'changed@example.net', idempotency_key: 'item-1' }] })
    assert.equal(changed.body.errors[0].error.code, 'idempotency_mismatch')
    assert.equal(await count(h, 'SELECT count(*) AS n FROM recipients WHERE address = $1', ['i1@example.net']), 1)
    const dupKeys = await batch({
      ...body,
      emails: [
        { to: 'x@example.net', idempotency_key: 'k' },
        { to: 'y@example.net', idempotency_key: 'k' },
      ],
    })
    assert.equal(dupKeys.body.errors[0].index, 1)
  })

  it('an item gets the schema check a single send gets: a number for text is an error, not an empty body', async () => {
    const res = await batch({
      defaults: { from: 'news@example.com' },
      emails: [
        { to: 'typed@example.net', subject: 's', text: 42 },
        { to: 'typo@example.net', subject: 's', text: 't', sheduled_at: '2030-01-01T00:00:00Z' },
      ],
    })
    assert.equal(res.status, 202, JSON.stringify(res.body))
    assert.equal(res.body.data.length, 0)
    assert.equal(res.body.errors[0].error.details[0].path, '/emails/0/text')
    assert.equal(res.body.errors[1].error.details[0].path, '/emails/1/sheduled_at')
  })

  it('refuses a batch that is not one: empty, over 1,000 items, an unknown mode', async () => {
    for (const payload of [{ emails: [] }, { emails: items(1001) }, { mode: 'all', emails: items(1) }, {}]) {
      const res = await batch(payload)
      assert.equal(res.status, 422, JSON.stringify(payload).slice(0, 80))
      assert.equal(res.body.error.code, 'validation_failed')
    }
  })
})
