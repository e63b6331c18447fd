import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { returnPath } from '../../src/modules/feedback/verp.js'
import { waitFor } from '../helpers/env.js'
import { basicEmail, type Harness, startHarness, TERMINAL } from '../helpers/harness.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

const FIXTURES = new URL('../fixtures/reports/', import.meta.url).pathname
const VERP_RE = /bounces\+[0-9a-f]{32}-[a-z2-7]{13}@bounces\.example\.com/g

/**
 * The compliance guard, with real complaints (an ARF report through the feedback service): a
 * broadcast stream whose complaint rate passes the threshold pauses itself with an event and its
 * reason in the API; its sends are refused and its mail is not handed to SMTP until it is resumed.
 */
describe('the complaint-rate guard', () => {
  let sink: Sink
  let h: Harness
  let db: pg.Client

  before(async () => {
    sink = await startSink()
    h = await startHarness({
      env: { SMTP_RELAY_URL: sink.url, COMPLAINT_PAUSE_RATE: '20%', COMPLAINT_MIN_DELIVERED: '3', SWEEP_INTERVAL: '1s' },
    })
    db = new pg.Client({ connectionString: h.config.databaseUrl })
    await db.connect()
    assert.equal((await h.request('POST', '/v1/domains', { payload: { name: 'example.com' } })).status, 201)
  })
  after(async () => {
    await db.end()
    await h.close()
    await sink.close()
  })

  const sent = async (to: string, stream = 'broadcast') => {
    const res = await h.send(basicEmail({ to, stream }))
    assert.equal(res.status, 202, JSON.stringify(res.body))
    await h.waitForEmail(res.body.id, (e) => TERMINAL.includes(e.status))
    const { rows } = await db.query<{ delivery_id: string }>('SELECT delivery_id FROM recipients WHERE email_id = $1', [res.body.id])
    return { id: res.body.id as string, verp: returnPath(h.config.secret, rows[0]?.delivery_id as string, 'bounces.example.com') }
  }
  const complain = async (verp: string, address: string) => {
    const raw = readFileSync(`${FIXTURES}yahoo-arf.eml`, 'latin1').replace(VERP_RE, verp).replaceAll('reader@yahoo.com', address)
    await h.container.services.feedback.receive({
      raw: Buffer.from(raw, 'latin1'),
      mailFrom: 'feedback@arf.example',
      rcptTo: ['fbl@bounces.example.com'],
    })
  }

  it('one complaint in 4 deliveries (25 % > 20 %) pauses broadcast, not transactional; resume lifts it', async () => {
    const first = await sent('g1@example.net')
    for (const n of [2, 3, 4]) await sent(`g${n}@example.net`)
    await complain(first.verp, 'g1@example.net')

    // Judged off the inbound path, just after the report is stored.
    const streams = await waitFor(
      'the broadcast stream paused',
      async () => {
        const data = (await h.request('GET', '/v1/streams')).body.data
        return data.find((s: { name: string; paused: boolean }) => s.name === 'broadcast' && s.paused) ? data : undefined
      },
      15_000,
    )
    const broadcast = streams.find((s: { name: string }) => s.name === 'broadcast')
    assert.match(broadcast.paused_reason, /complaint rate 25 % over 24 h passed 20 % \(1 complaints, 4 delivered\)/)
    assert.equal(streams.find((s: { name: string }) => s.name === 'transactional').paused, false)
    const events = (await h.request('GET', '/v1/events?limit=100')).body.data.filter((e: { type: string }) => e.type === 'stream.paused')
    assert.equal(events.length, 1)
    assert.equal(events[0].data.stream, 'broadcast')

    const refused = await h.send(basicEmail({ to: 'later@example.net', stream: 'broadcast' }))
    assert.equal(refused.status, 409, JSON.stringify(refused.body))
    assert.match(refused.body.error.message, /broadcast stream of this account is paused/)
    const batch = await h.request('POST', '/v1/emails/batch', {
      payload: {
        defaults: basicEmail({ stream: 'broadcast' }),
        emails: [{ to: 'b1@example.net' }, { to: 'b2@example.net', stream: 'transactional' }],
      },
    })
    assert.equal(batch.status, 202, JSON.stringify(batch.body))
    assert.deepEqual(
      batch.body.errors.map((e: { index: number; error: { code: string } }) => [e.index, e.error.code]),
      [[0, 'conflict']],
      'a batch is refused per item for the paused stream, and takes the others',
    )
    await sent('tx@example.net', 'transactional')

    // Mail accepted before the pause and not yet sent waits (the claim refuses it) and goes once resumed.
    assert.equal((await h.request('POST', '/v1/streams/broadcast/resume')).status, 204)
    const queued = await h.send(
      basicEmail({ to: 'waiting@example.net', stream: 'broadcast', scheduled_at: new Date(Date.now() + 3_000).toISOString() }),
    )
    assert.equal(queued.status, 202, JSON.stringify(queued.body))
    // Paused again right after the accept (as the guard would, on a complaint arriving then).
    await db.query("UPDATE stream_pauses SET resumed_at = NULL, reason = 'test' WHERE account_id = $1 AND stream = 'broadcast'", [
      h.accountId,
    ])
    await new Promise((resolve) => setTimeout(resolve, 4_000))
    assert.ok(!sink.received.some((m) => m.to.includes('waiting@example.net')), 'not sent while paused')
    const resumed = await h.request('POST', '/v1/streams/broadcast/resume')
    assert.equal(resumed.status, 204)
    await h.waitForEmail(queued.body.id, (e) => e.status === 'sent', 15_000)
    assert.equal((await h.request('POST', '/v1/streams/broadcast/resume')).status, 409)
  })
})
