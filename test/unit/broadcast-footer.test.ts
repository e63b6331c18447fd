import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkFooter, footerHtml, withBroadcastFooter } from '../../src/modules/emails/broadcast-footer.js'
import type { EmailDraft } from '../../src/modules/emails/email.types.js'

const draft = (over: Partial<EmailDraft>): EmailDraft =>
  ({
    subject: 'Hi',
    text: 'Hello',
    html: undefined,
    headers: {},
    attachments: [],
    stream: 'broadcast',
    sizeBytes: 100,
    ...over,
  }) as EmailDraft

describe('broadcast footer', () => {
  it('is checked: trimmed, CRLF made LF, control characters and emptiness refused', () => {
    assert.equal(checkFooter('  a\r\nb\rc\t \n'), 'a\nb\nc')
    assert.equal(checkFooter(null), null)
    assert.throws(() => checkFooter(' \n '), /is empty/)
    assert.throws(() => checkFooter('a\u0000b'))
    assert.throws(() => checkFooter('x'.repeat(2_001)))
    assert.equal(checkFooter('😀'.repeat(2_000))?.length, 4_000, 'counted in characters, not UTF-16 units')
    assert.throws(() => checkFooter('a\u0085b'), /control characters/)
    assert.throws(() => checkFooter('a\u2028b'), /control characters/)
    assert.throws(() => checkFooter('a\ud800b'), /surrogate/)
  })

  it('goes after the text and inside the HTML body, escaped', () => {
    const out = withBroadcastFooter(draft({ text: 'Sale!\n\n', html: '<BODY><p>Sale</p></BODY>' }), 'A & B <a@b.example>\nTokyo')
    assert.equal(out.text, 'Sale!\n\nA & B <a@b.example>\nTokyo\n')
    assert.equal(out.html, `<BODY><p>Sale</p>${footerHtml('A & B <a@b.example>\nTokyo')}\n</BODY>`)
    assert.match(footerHtml('<script>'), /&lt;script&gt;/)
    assert.ok(out.sizeBytes > 100, 'the size grows with it')
  })

  it('leaves transactional mail, and mail of accounts without one, alone', () => {
    const t = draft({ stream: 'transactional' })
    assert.equal(withBroadcastFooter(t, 'Footer'), t)
    const b = draft({})
    assert.equal(withBroadcastFooter(b, null), b)
    assert.equal(withBroadcastFooter(draft({ html: '<p>fragment</p>', text: undefined }), 'F').html, `<p>fragment</p>\n${footerHtml('F')}`)
    // Found in the HTML itself: İ lower-cases to two characters and must not shift the cut.
    const turkish = withBroadcastFooter(draft({ html: '<body>İİ</body >' }), 'F').html
    assert.equal(turkish, `<body>İİ${footerHtml('F')}\n</body >`)
  })
})
