import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type BounceCategory, type BounceInput, bounceCategory } from '../../src/modules/feedback/bounce.classify.js'

const expect = (cases: Array<[BounceInput, BounceCategory]>) => {
  for (const [input, category] of cases) assert.equal(bounceCategory(input), category, JSON.stringify(input))
}

describe('bounceCategory by enhanced status code (RFC 3463)', () => {
  it('bad mailbox, bad domain, bad syntax, moved, null MX and disabled mailboxes are hard', () => {
    expect([
      [{ status: '5.1.1' }, 'hard'],
      [{ status: '5.1.2' }, 'hard'],
      [{ status: '5.1.3' }, 'hard'],
      [{ status: '5.1.6' }, 'hard'],
      [{ status: '5.1.10' }, 'hard'],
      [{ status: '5.2.1' }, 'hard'],
      [{ status: '5.4.4', text: 'Host or domain name not found. Name service error for name=gone.example type=MX' }, 'hard'],
      [{ status: '5.1.1 (bad destination mailbox address)' }, 'hard'],
    ])
  })

  it('a full mailbox and every transient code are soft, 4.7.x included', () => {
    expect([
      [{ status: '5.2.2' }, 'soft'],
      [{ status: '4.2.2', code: 452, text: "The recipient's inbox is out of storage space" }, 'soft'],
      [{ status: '4.7.28', code: 421, text: 'Gmail has detected an unusual rate of unsolicited email' }, 'soft'],
      [{ status: '4.1.1', text: 'user unknown' }, 'soft'],
      [{ status: '4.4.1' }, 'soft'],
      [{ status: '5.4.7', text: 'delivery time expired' }, 'soft'],
      [{ status: '5.3.1' }, 'soft'],
    ])
  })

  it("Gmail's per-recipient rate limit sent as 5.2.1 is soft, not a disabled mailbox", () => {
    expect([
      [
        {
          status: '5.2.1',
          code: 550,
          text: 'The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.',
        },
        'soft',
      ],
    ])
  })

  it('5.7.x is policy (blocklists, reputation, authentication), unless it says the user does not exist', () => {
    expect([
      [{ status: '5.7.606', text: 'Access denied, banned sending IP [203.0.113.25].' }, 'policy'],
      [{ status: '5.7.1', text: "Unfortunately, messages from [203.0.113.25] weren't sent. … block list (S3150)" }, 'policy'],
      [{ status: '5.7.1', text: 'Our system has detected that this message is likely unsolicited mail.' }, 'policy'],
      [{ status: '5.7.26', text: "Unauthenticated email from example.com is not accepted due to domain's DMARC policy." }, 'policy'],
      [{ status: '5.7.515', text: 'Access denied, sending domain example.com does not meet the required authentication level.' }, 'policy'],
      [{ status: '5.7.9', text: 'This mail has been blocked because the sender is unauthenticated.' }, 'policy'],
      [{ status: '5.7.1' }, 'policy'],
      [{ status: '5.7.1', text: '<x@example.net>: Recipient address rejected: User unknown in relay recipient table' }, 'hard'],
    ])
  })

  it('our own sender address being refused (5.1.7, 5.1.8) is policy, not a dead recipient', () => {
    expect([
      [{ status: '5.1.8', text: 'Sender address rejected: Domain not found' }, 'policy'],
      [{ status: '5.1.7' }, 'policy'],
    ])
  })

  it('5.4.1 is soft (no answer), except Exchange Online\'s "Recipient address rejected: Access denied"', () => {
    expect([
      [{ status: '5.4.1', text: 'No answer from host' }, 'soft'],
      [
        { status: '5.4.1', text: 'Recipient address rejected: Access denied. For more information see https://aka.ms/EXOSmtpErrors' },
        'hard',
      ],
    ])
  })

  it('message problems, protocol and media errors are unknown', () => {
    expect([
      [{ status: '5.3.4', text: 'Message size exceeds fixed maximum message size' }, 'unknown'],
      [{ status: '5.5.1' }, 'unknown'],
      [{ status: '5.5.3', text: 'Too many recipients' }, 'unknown'],
      [{ status: '5.6.0' }, 'unknown'],
      [{ status: '5.4.6', text: 'Routing loop detected' }, 'unknown'],
      [{ status: '2.0.0' }, 'unknown'],
    ])
  })

  it('generic codes (x.0.0, 5.1.0, 5.5.0) fall back to the text', () => {
    expect([
      [{ status: '5.0.0', text: 'No such user here' }, 'hard'],
      [{ status: '5.1.0', text: 'Address rejected: spam source' }, 'policy'],
      [{ status: '5.5.0', text: 'Requested action not taken: mailbox unavailable' }, 'hard'],
      [{ status: '5.0.0' }, 'unknown'],
    ])
  })

  it('the Status wins over a mismatched basic code (Gmail\'s "421 5.7.32")', () => {
    expect([[{ status: '5.7.32', code: 421 }, 'policy']])
  })
})

describe('bounceCategory without an enhanced code', () => {
  it('reads an enhanced code from the start of the reply text', () => {
    expect([
      [{ text: '550 5.1.1 <gone@example.net>: Recipient address rejected' }, 'hard'],
      [{ text: '550-5.7.1 [203.0.113.25] Our system has detected …' }, 'policy'],
      [{ text: '452 4.2.2 The email account that you tried to reach is over quota' }, 'soft'],
    ])
  })

  it('uses the basic code and provider texts (Yahoo, docomo, au, SoftBank)', () => {
    expect([
      [{ code: 421, text: 'Service not available' }, 'soft'],
      [{ code: 450, text: 'User is receiving mail too quickly' }, 'soft'],
      [{ code: 554, text: "delivery error: dd This user doesn't have a yahoo.com account" }, 'hard'],
      [{ code: 554, text: '30 Sorry, your message to x@aol.com cannot be delivered. This mailbox is disabled (554.30)' }, 'hard'],
      [{ code: 553, text: "[BL21] Connections will not be accepted from 203.0.113.25, because the ip is in Spamhaus's list" }, 'policy'],
      [{ code: 554, text: 'Message not allowed - [PH01] Email not accepted for policy reasons' }, 'policy'],
      [{ code: 550, text: 'Unknown user <x@docomo.ne.jp>' }, 'hard'],
      [{ code: 550, text: '<x@ezweb.ne.jp>: User unknown' }, 'hard'],
      [{ code: 550, text: 'Invalid recipient: <x@softbank.ne.jp>' }, 'hard'],
      [{ code: 552, text: 'Too much mail data' }, 'soft'],
      [{ code: 552, text: 'Message size exceeds limit' }, 'unknown'],
      [{ code: 552 }, 'soft'],
      [{ code: 554, text: 'Transaction failed' }, 'unknown'],
      [{ code: 550, text: 'Mailbox full' }, 'soft'],
      [{ code: 550, text: 'Message delivered successfully elsewhere' }, 'unknown'],
      [{ code: 550, text: 'Sender IP is blacklisted' }, 'policy'],
      [{ code: 550, text: 'Requested action not taken: mailbox unavailable' }, 'hard'],
      [{ code: 550 }, 'unknown'],
      [{ code: 250 }, 'unknown'],
      [{}, 'unknown'],
    ])
  })

  it('reads only the start of a long text, in time linear in nothing but that start', () => {
    const tail = 'user unknown'
    assert.equal(bounceCategory({ code: 550, text: `${'x'.repeat(5_000)} ${tail}` }), 'unknown')
    const huge = 'a'.repeat(5_000_000)
    const started = performance.now()
    for (let i = 0; i < 1_000; i++) bounceCategory({ status: huge, code: 550, text: huge })
    assert.ok(performance.now() - started < 5_000)
  })
})
