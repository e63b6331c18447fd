import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { createLogger } from '../../src/infra/logger.js'
import { createRetentionRepository } from '../../src/modules/retention/retention.repository.js'
import { createRetentionService } from '../../src/modules/retention/retention.service.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness, TERMINAL } from '../helpers/harness.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

const DAY = 86_400_000

/**
 * Retention against real PostgreSQL: bodies and attachments go after RETENTION_BODIES, the rest
 * after RETENTION_METADATA (or the account's own), only for emails whose every recipient has
 * ended, never past one that has not, in bounded batches. Passes are run as of a later "now".
 */
describe('retention', () => {
  let sink: Sink
  let h: Harness
  let db: pg.Client

  before(async () => {
    sink = await startSink()
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url, RETENTION_BODIES: '30d', RETENTION_METADATA: '90d' } })
    db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
  })
  after(async () => {
    await db.end()
    await h.close()
    await sink.close()
  })

  const sent = async (key = h.key, extra: Record<string, unknown> = {}) => {
    const res = await h.send(basicEmail(extra), { authorization: `Bearer ${key}` })
    assert.equal(res.status, 202, JSON.stringify(res.body))
    return res.body.id as string
  }
  const ended = (id: string) => h.waitForEmail(id, (e) => TERMINAL.includes(e.status))
  const body = async (id: string) =>
    (
      await db.query<{ text: string | null; purged: boolean; attachments: number }>(
        'SELECT text, body_purged_at IS NOT NULL AS purged, (SELECT count(*)::int FROM email_attachments a WHERE a.email_id = e.id) AS attachments FROM emails e WHERE id = $1',
        [id],
      )
    ).rows[0]
  const pass = (days: number) => h.container.services.retention.pass(Date.now() + days * DAY)

  it('purges ended bodies after their retention, never past a message still on its way, then everything after the metadata retention', async () => {
    const first = await sent(h.key, {
      attachments: [{ filename: 'a.txt', content: Buffer.from('attached').toString('base64'), content_type: 'text/plain' }],
    })
    await ended(first)
    const waiting = await sent(h.key, { scheduled_at: new Date(Date.now() + 2 * DAY).toISOString() })
    const later = await sent()
    await ended(later)

    assert.deepEqual(await pass(10), { bodies: 0, metadata: 0, more: false }, 'nothing is old enough yet')
    const result = await pass(31)
    assert.equal(result.bodies, 1)
    assert.deepEqual(await body(first), { text: null, purged: true, attachments: 0 })
    assert.equal((await body(waiting))?.purged, false, 'a scheduled message keeps its body')
    assert.equal((await body(later))?.purged, false, 'retention does not pass a message still on its way')
    assert.equal((await h.getEmail(first)).status, 'sent', 'the metadata stays')

    assert.equal((await h.request('POST', `/v1/emails/${waiting}/cancel`)).status, 200)
    assert.equal((await pass(31)).bodies, 2, 'once it has ended, it and the ones after it go')
    assert.equal((await body(later))?.purged, true)

    const events = async () => (await db.query('SELECT 1 FROM events WHERE email_id = ANY($1::uuid[])', [[first, waiting, later]])).rowCount
    assert.ok(((await events()) ?? 0) > 0)
    assert.equal((await pass(91)).metadata, 3)
    assert.equal((await h.request('GET', `/v1/emails/${first}`)).status, 404)
    assert.equal(await events(), 0, 'its events go with it')
    const left = await db.query('SELECT 1 FROM recipients WHERE email_id = ANY($1::uuid[])', [[first, waiting, later]])
    assert.equal(left.rowCount, 0, 'and its recipients and attempts')
  })

  it("follows an account's own retention, set through the operator API's service", async () => {
    const other = await h.container.services.accounts.create('Keeps longer')
    await h.container.services.accounts.setRetention(other.account.id, { bodyDays: 60, metadataDays: 120 })
    const id = await sent(other.key)
    await waitFor('the email to end', async () => {
      const res = await h.request('GET', `/v1/emails/${id}`, { headers: { authorization: `Bearer ${other.key}` } })
      return TERMINAL.includes(res.body.status) ? true : undefined
    })
    await pass(31)
    assert.equal((await body(id))?.purged, false, '60 days for this account')
    await pass(61)
    assert.equal((await body(id))?.purged, true)
    await assert.rejects(
      h.container.services.accounts.setRetention(other.account.id, { bodyDays: 200, metadataDays: 100 }),
      /at most metadata_days/,
    )
  })

  it('works in bounded batches', async () => {
    const ids = [await sent(), await sent(), await sent()]
    for (const id of ids) await ended(id)
    const small = createRetentionService({
      repository: createRetentionRepository({ pool: h.container.pool, prisma: h.container.prisma }),
      policy: { bodiesMs: 30 * DAY, metadataMs: 90 * DAY, batch: 2, maxBatches: 1 },
      logger: createLogger('silent'),
    })
    const first = await small.pass(Date.now() + 31 * DAY)
    assert.deepEqual(first, { bodies: 2, metadata: 0, more: true })
    const second = await small.pass(Date.now() + 31 * DAY)
    assert.equal(second.bodies, 1)
  })
})
