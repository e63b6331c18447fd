import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { redactReply } from '../../src/modules/delivery/reply-redact.js'
import { createShaping } from '../../src/modules/delivery/shaping.js'

describe('a throttling reply as every account sees it', () => {
  const shaping = createShaping('mx')

  it("keeps the provider's own hosts and help pages, our IP and the codes", () => {
    const microsoft =
      '550 5.7.606 Access denied, banned sending IP [192.0.2.7]. To request removal from this list please visit https://sender.office.com/ and follow the directions. For more information please go to http://go.microsoft.com/fwlink/?LinkID=526655'
    assert.equal(redactReply(microsoft, shaping.profileHosts('microsoft')), microsoft)
    const yahoo =
      '421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes'
    assert.equal(redactReply(yahoo, shaping.profileHosts('yahoo')), yahoo)
    const google = '421-4.7.28 Gmail has detected an unusual rate of unsolicited mail. https://support.google.com/mail/answer/188131'
    assert.equal(redactReply(google, shaping.profileHosts('google')), google)
  })

  it("removes addresses, however written, and other accounts' domains in any script", () => {
    const keep = shaping.profileHosts('google')
    assert.equal(
      redactReply('421 4.7.28 Unusual rate from news@shop.example.jp to reader@gmail.com for shop.example.jp', keep),
      '421 4.7.28 Unusual rate from <address> to <address> for <domain>',
    )
    assert.equal(
      redactReply('550 "john doe"@x.example and john(c)@y.example and user@[192.0.2.1]', keep),
      '550 <address> and <address> and <address>',
    )
    assert.equal(redactReply('from ショップ.example.jp and bücher.de and 例え.テスト', keep), 'from <domain> and <domain> and <domain>')
    assert.equal(redactReply('cut at the end: news@', keep), 'cut at the end: <address>')
  })
})
