import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { redactReply } from '../../src/modules/delivery/reply-redact.js'

describe('a throttling reply as every account sees it', () => {
  const microsoft = ['outlook.com', 'hotmail.com', 'protection.outlook.com', 'office.com', 'microsoft.com']

  it("keeps the provider's own hosts, our IP and the codes", () => {
    const text = '550 5.7.606 Access denied, banned sending IP [192.0.2.7]. To request removal visit https://sender.office.com/'
    assert.equal(redactReply(text, microsoft), text)
  })

  it("removes addresses and other accounts' domains", () => {
    assert.equal(
      redactReply('421 4.7.28 Unusual rate from news@shop.example.jp to reader@gmail.com for shop.example.jp', ['gmail.com', 'google.com']),
      '421 4.7.28 Unusual rate from <address> to <address> for <domain>',
    )
  })
})
