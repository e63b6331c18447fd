import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { simpleParser } from 'mailparser'
import { basicEmail, type Harness, startHarness, TERMINAL } from '../helpers/harness.js'
import { type Sink, startSink } from '../helpers/smtp-sink.js'

const FOOTER = 'Example Shop K.K. <sales@example.com>\n1-2-3 Chiyoda, Tokyo 100-0001\n配信停止: https://example.com/optout'

/**
 * The account's settings: the footer of its broadcast mail (the sender details Japan's Act on
 * Specified Electronic Mail requires), set over the API and found in the mail at a real SMTP sink.
 */
describe('account settings: the broadcast footer', () => {
  let sink: Sink
  let h: Harness

  before(async () => {
    sink = await startSink()
    h = await startHarness({ env: { SMTP_RELAY_URL: sink.url } })
  })
  after(async () => {
    await h.close()
    await sink.close()
  })

  const received = async (id: string) => {
    const email = await h.waitForEmail(id, (e) => TERMINAL.includes(e.status))
    assert.equal(email.status, 'sent')
    const message = sink.received.find((m) => m.raw.toString().includes(id))
    assert.ok(message, 'the message reached the sink')
    return simpleParser(message.raw)
  }

  it('is null at first, and refuses what it cannot be', async () => {
    const shown = await h.request('GET', '/v1/account')
    assert.equal(shown.status, 200)
    assert.equal(shown.body.id, h.accountId)
    assert.equal(shown.body.broadcast_footer, null)
    for (const bad of ['   ', 'bell\u0007', 'x'.repeat(2_001)]) {
      const res = await h.request('PATCH', '/v1/account', { payload: { broadcast_footer: bad } })
      assert.equal(res.status, 422, JSON.stringify(res.body))
      assert.equal(res.body.error.code, 'validation_failed')
      assert.equal(res.body.error.details[0].path, '/broadcast_footer')
    }
    const unknown = await h.request('PATCH', '/v1/account', { payload: { footer: 'x' } })
    assert.equal(unknown.status, 422, JSON.stringify(unknown.body))
    assert.ok(
      unknown.body.error.details.some((d: { path: string }) => d.path === '/footer'),
      'an unknown field is named',
    )
  })

  it('is appended to broadcast mail (text, and HTML escaped), not to transactional mail', async () => {
    const set = await h.request('PATCH', '/v1/account', { payload: { broadcast_footer: `  ${FOOTER.replace(/\n/g, '\r\n')}  ` } })
    assert.equal(set.status, 200, JSON.stringify(set.body))
    assert.equal(set.body.broadcast_footer, FOOTER, 'trimmed, line breaks as \\n')

    const html = '<html><body><p>Spring sale</p></body></html>'
    const broadcast = await h.send(basicEmail({ stream: 'broadcast', text: 'Spring sale', html }))
    assert.equal(broadcast.status, 202, JSON.stringify(broadcast.body))
    const mail = await received(broadcast.body.id)
    assert.ok(mail.text?.includes('Spring sale\n\nExample Shop K.K. <sales@example.com>\n1-2-3 Chiyoda'), mail.text)
    assert.ok(mail.text?.includes('配信停止: https://example.com/optout'))
    const body = String(mail.html)
    assert.match(body, /Example Shop K\.K\. &lt;sales@example\.com&gt;<br>/, 'the footer is text, escaped in HTML')
    assert.ok(body.indexOf('hikyaku-footer') < body.indexOf('</body>'), 'inside the body')

    const transactional = await h.send(basicEmail({ text: 'Your code is 123456' }))
    const plain = await received(transactional.body.id)
    assert.ok(!plain.text?.includes('Example Shop'), 'transactional mail is left alone')
  })

  it('a send-only key can neither read nor change it; null removes it', async () => {
    const { key } = await h.container.services.apiKeys.create({ accountId: h.accountId, scope: 'send' })
    const res = await h.request('PATCH', '/v1/account', {
      payload: { broadcast_footer: null },
      headers: { authorization: `Bearer ${key}` },
    })
    assert.equal(res.status, 403)
    const removed = await h.request('PATCH', '/v1/account', { payload: { broadcast_footer: null } })
    assert.equal(removed.status, 200)
    assert.equal(removed.body.broadcast_footer, null)
    const broadcast = await h.send(basicEmail({ stream: 'broadcast', text: 'No footer now' }))
    assert.ok(!(await received(broadcast.body.id)).text?.includes('Example Shop'))
  })
})
