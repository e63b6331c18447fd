import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { SmtpPhase, TransactionResult } from '../../src/modules/delivery/delivery.types.js'
import { BUILT_IN_RULES, matchReply, type ReplyClass } from '../../src/modules/delivery/reply-rules.js'
import { checkShapingFile, createShaping } from '../../src/modules/delivery/shaping.js'
import { classifyTransaction, parseReply } from '../../src/modules/delivery/smtp-reply.classify.js'

type Case = [provider: string | undefined, phase: SmtpPhase | 'done', reply: string, rule: string, cls: ReplyClass]

/** Replies as the providers write them (the deliverability reference's catalogue), and how each is read. */
const CASES: Case[] = [
  // Google
  [
    'google',
    'mail',
    '421 4.7.28 Gmail has detected an unusual rate of unsolicited email originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. - gsmtp',
    'google.rate_reputation',
    'reputation',
  ],
  [
    'google',
    'done',
    '421 4.7.28 Our system has detected that this message exceeded the quota for sending messages that have the same Message-ID. - gsmtp',
    'google.same_message_id',
    'recipient_temp',
  ],
  ['google', 'rcpt', '421 4.7.0 TLS required for RCPT domain, closing connection. - gsmtp', 'google.tls_required', 'sender_config'],
  ['google', 'rcpt', '421 4.7.0 IP not in whitelist for RCPT domain, closing connection. - gsmtp', 'google.ip_not_allowed', 'policy_block'],
  [
    'google',
    'done',
    '421 4.7.30 This mail has been rate limited because DKIM does not pass. - gsmtp',
    'google.authentication',
    'sender_config',
  ],
  [
    'google',
    'done',
    "421 5.7.32 Your email has been blocked because the sender is unauthenticated. The From: header isn't aligned with either the authenticated SPF or DKIM organizational domain. - gsmtp",
    'google.authentication',
    'sender_config',
  ],
  [
    'google',
    'done',
    '550 5.7.26 This mail has been blocked because the sender is unauthenticated. - gsmtp',
    'google.authentication',
    'sender_config',
  ],
  [
    'google',
    'done',
    '550 5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. - gsmtp',
    'google.unsolicited',
    'content',
  ],
  [
    'google',
    'done',
    '550 5.7.1 Our system has detected that this message is likely suspicious due to the very low reputation of the sending IP address. - gsmtp',
    'google.ip_blocked',
    'policy_block',
  ],
  [
    'google',
    'mail',
    '421 4.7.28 Gmail has detected an unusual rate of unsolicited email originating from your DKIM domain [example.com]. - gsmtp',
    'google.domain_reputation',
    'sender_config',
  ],
  // Wrapped as Gmail wraps it: the code and enhanced code on every line.
  [
    'google',
    'done',
    '421-4.7.28 Our system has detected that this message exceeded the quota for\r\n421-4.7.28 sending messages that have the same Message-ID. Please visit\r\n421 4.7.28 https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp',
    'google.same_message_id',
    'recipient_temp',
  ],
  [
    'microsoft',
    'rcpt',
    '550 5.7.513 Service unavailable, Client host [192.0.2.10] blocked by Customer Block list',
    'microsoft.tenant_block',
    'policy_block',
  ],
  [
    'microsoft',
    'mail',
    "451 4.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy",
    'microsoft.authentication',
    'sender_config',
  ],
  [
    'google',
    'mail',
    '550 5.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been blocked. - gsmtp',
    'google.ip_blocked',
    'policy_block',
  ],
  [
    'google',
    'done',
    '550 5.7.1 This message is not RFC 5322 compliant. There are multiple From headers. - gsmtp',
    'google.not_rfc5322',
    'content',
  ],
  ['google', 'mail', '421 4.7.0 Try again later, closing connection. (MAIL) - gsmtp', 'generic.throttled', 'capacity'],
  // Yahoo / AOL
  [
    'yahoo',
    'mail',
    '421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes',
    'yahoo.reputation',
    'reputation',
  ],
  ['yahoo', 'mail', '421 4.7.0 [TSS05] Messages from 192.0.2.10 temporarily deferred', 'yahoo.reputation_long', 'reputation'],
  ['yahoo', 'mail', '421 4.7.1 [TS03] All messages from 192.0.2.10 permanently deferred', 'yahoo.blocked', 'policy_block'],
  [
    'yahoo',
    'mail',
    '553 5.7.2 [TSS09] All messages from 192.0.2.10 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes',
    'yahoo.blocked',
    'policy_block',
  ],
  [
    'yahoo',
    'mail',
    "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.10, because the ip is in Spamhaus's list",
    'yahoo.blocked',
    'policy_block',
  ],
  ['yahoo', 'done', '421 Max message per connection reached, closing transmission channel', 'yahoo.max_per_connection', 'reconnect'],
  ['yahoo', 'done', '554 Message not allowed - [PH01] Email not accepted for policy reasons.', 'yahoo.content', 'content'],
  [
    'yahoo',
    'done',
    '550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM.',
    'yahoo.unauthenticated',
    'sender_config',
  ],
  // Microsoft
  [
    'microsoft',
    'mail',
    "550 5.7.1 Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.",
    'microsoft.blocked',
    'policy_block',
  ],
  [
    'microsoft',
    'rcpt',
    '550 5.7.606 Access denied, banned sending IP [192.0.2.10]. To request removal from this list please visit https://sender.office.com/',
    'microsoft.blocked',
    'policy_block',
  ],
  [
    'microsoft',
    'mail',
    '451 4.7.650 The mail server [192.0.2.10] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775)',
    'microsoft.reputation',
    'reputation',
  ],
  [
    'microsoft',
    'mail',
    '421 RP-003 The mail server IP connecting to Outlook.com server has exceeded the connection limit allowed.',
    'microsoft.connection_limit',
    'capacity',
  ],
  [
    'microsoft',
    'mail',
    '451 4.7.500 Server busy. Please try again later from [192.0.2.10]. (S77714) [AM4PEPF00027A66.eurprd04.prod.outlook.com]',
    'microsoft.reputation',
    'reputation',
  ],
  [
    'microsoft',
    'done',
    '550 5.7.515 Access denied, sending domain [EXAMPLE.COM] does not meet the required authentication level.',
    'microsoft.authentication',
    'sender_config',
  ],
  // Japanese carriers
  ['docomo', 'done', '550 Unknown user user@docomo.ne.jp', 'carrier.filtered', 'content'],
  ['kddi', 'rcpt', '550 : User unknown', 'kddi.filtered', 'content'],
  // Anyone
  [undefined, 'mail', '421 4.3.2 Service shutting down', 'generic.throttled', 'capacity'],
  [undefined, 'mail', '451 4.7.1 Please slow down', 'generic.throttled', 'capacity'],
]

describe('reply rules: each provider reply leads to its class', () => {
  for (const [provider, phase, raw, rule, cls] of CASES) {
    it(`${provider ?? 'any'} ${raw.slice(0, 60)} → ${rule}`, () => {
      const reply = parseReply(raw)
      assert.ok(reply)
      const match = matchReply(BUILT_IN_RULES, reply, provider, phase)
      assert.deepEqual([match?.id, match?.class], [rule, cls])
    })
  }

  it("a provider's rule does not fire for another destination", () => {
    const reply = parseReply('421 Max message per connection reached, closing transmission channel')
    assert.ok(reply)
    assert.equal(matchReply(BUILT_IN_RULES, reply, 'google', 'done')?.class, 'capacity', 'a plain 421 elsewhere is capacity')
    const block = parseReply('550 5.7.1 ... part of their network is on our block list (S3150)')
    assert.ok(block)
    assert.equal(matchReply(BUILT_IN_RULES, block, undefined, 'mail'), undefined)
  })

  it('a recipient unknown, a full mailbox and a success match no rule: they stay bounces and deferrals of that address', () => {
    const cases: Array<[string, string]> = [
      ['google', '550 5.1.1 The email account that you tried to reach does not exist. - gsmtp'],
      ['google', "452 4.2.2 The recipient's inbox is out of storage space"],
      ['google', '250 2.0.0 OK'],
      [
        'microsoft',
        '550 5.5.0 Requested action not taken: mailbox unavailable (S2017) [BN8NAM11FT066.eop-nam11.prod.protection.outlook.com]',
      ],
      ['yahoo', "554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0] - mta1234.mail.gq1.yahoo.com"],
      ['docomo', '550 Unknown user x@docomo.ne.jp'],
    ]
    for (const [provider, raw] of cases) {
      const reply = parseReply(raw)
      assert.ok(reply)
      assert.equal(matchReply(BUILT_IN_RULES, reply, provider, 'rcpt'), undefined, raw)
    }
  })
})

const failedAt = (phase: SmtpPhase, raw: string): TransactionResult =>
  ({ ok: false, phase, reply: parseReply(raw), rejected: new Map(), session: {} }) as unknown as TransactionResult

describe('classifyTransaction with reply rules', () => {
  it('a block on our IP defers the mail (never bounces it) and pauses the destination', () => {
    const out = classifyTransaction(
      failedAt('mail', '550 5.7.1 messages from [192.0.2.10] are on our block list (S3150)'),
      ['a@outlook.com'],
      {
        provider: 'microsoft',
      },
    ).get('a@outlook.com')
    assert.deepEqual([out?.status, out?.throttled, out?.rule?.class], ['deferred', true, 'policy_block'])
    assert.ok((out?.rule?.pauseMs ?? 0) >= 3_600_000)
  })

  it('a per-connection cap defers without slowing the destination', () => {
    const result = {
      ok: true,
      dataReply: parseReply('421 Max message per connection reached, closing transmission channel'),
      rejected: new Map(),
      session: {},
    } as unknown as TransactionResult
    const out = classifyTransaction(result, ['a@yahoo.com'], { provider: 'yahoo' }).get('a@yahoo.com')
    assert.deepEqual([out?.status, out?.throttled, out?.rule?.class], ['deferred', false, 'reconnect'])
  })

  it("sender authentication is not a pause for everyone's mail, and a 5xx for it is not a hard bounce", () => {
    const soft = classifyTransaction(failedAt('mail', '421 4.7.30 DKIM does not pass. - gsmtp'), ['a@gmail.com'], { provider: 'google' })
    assert.deepEqual([soft.get('a@gmail.com')?.status, soft.get('a@gmail.com')?.throttled], ['deferred', false])
    const hard = classifyTransaction(failedAt('data', '550 5.7.26 Unauthenticated email is not accepted. - gsmtp'), ['a@gmail.com'], {
      provider: 'google',
    })
    assert.deepEqual([hard.get('a@gmail.com')?.status, hard.get('a@gmail.com')?.rule?.class], ['bounced', 'sender_config'])
  })

  it("a refusal at the greeting is read by the rules and never bounces (Yahoo's [BL21])", () => {
    const out = classifyTransaction(
      failedAt('greeting', "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.10, because the ip is in Spamhaus's list"),
      ['a@yahoo.com'],
      { provider: 'yahoo' },
    ).get('a@yahoo.com')
    assert.deepEqual([out?.status, out?.throttled, out?.rule?.class], ['deferred', true, 'policy_block'])
  })

  it('a block refused to some recipients at RCPT does not pause the destination; refused to all, it does', () => {
    const banned = parseReply('550 5.7.606 Access denied, banned sending IP [192.0.2.10].')
    const some = {
      ok: true,
      dataReply: parseReply('250 2.0.0 OK'),
      rejected: new Map([['a@outlook.com', banned]]),
      session: {},
    } as unknown as TransactionResult
    const partial = classifyTransaction(some, ['a@outlook.com', 'b@outlook.com'], { provider: 'microsoft' })
    assert.deepEqual([partial.get('a@outlook.com')?.status, partial.get('a@outlook.com')?.throttled], ['deferred', false])
    assert.equal(partial.get('b@outlook.com')?.status, 'sent')
    const every = { ...some, ok: false, phase: 'rcpt', rejected: new Map([['a@outlook.com', banned]]) } as unknown as TransactionResult
    const all = classifyTransaction(every, ['a@outlook.com'], { provider: 'microsoft' })
    assert.equal(all.get('a@outlook.com')?.throttled, true)
  })

  it("one tenant's block list defers its mail without pausing the provider", () => {
    const out = classifyTransaction(
      failedAt('mail', '550 5.7.513 Service unavailable, Client host [192.0.2.10] blocked by Customer Block list'),
      ['a@contoso.test'],
      { provider: 'microsoft' },
    ).get('a@contoso.test')
    assert.deepEqual([out?.status, out?.throttled, out?.rule?.scope], ['deferred', false, 'recipient_domain'])
  })

  it('relayed replies are read by the generic rules only', () => {
    const out = classifyTransaction(failedAt('mail', '550 5.7.1 ... on our block list (S3150)'), ['a@outlook.com']).get('a@outlook.com')
    assert.equal(out?.status, 'bounced')
  })
})

describe('operator rules in SHAPING_CONFIG', () => {
  it('come before the built-in ones, for the providers they name', () => {
    const shaping = createShaping('mx', {
      rules: [{ id: 'ops.yahoo_pause', providers: ['yahoo'], code: 421, text: 'Max message per connection', class: 'capacity' }],
    })
    const policy = shaping.policyFor('yahoo.com', ['mta5.am0.yahoodns.net'])
    const reply = parseReply('421 Max message per connection reached, closing transmission channel')
    assert.ok(reply)
    assert.deepEqual(matchReply(policy.rules, reply, 'yahoo', 'done'), { id: 'ops.yahoo_pause', class: 'capacity', scope: 'destination' })
    assert.equal(matchReply(policy.rules, reply, 'google', 'done')?.id, 'generic.throttled')
  })

  it('are checked: a bad class, pattern, code or key is refused with its place', () => {
    const problems = checkShapingFile({
      rules: [
        { id: 'a', class: 'nonsense', code: 421 },
        { id: 'b', class: 'capacity', text: '(unclosed' },
        { id: 'c', class: 'capacity', text: '(a+)+$' },
        { id: 'd', class: 'capacity', code: 99 },
        { id: 'e', class: 'capacity' },
        { id: 'f', class: 'capacity', code: 421, colour: 'red' },
      ],
    })
    assert.equal(problems.length, 6, problems.join('\n'))
    for (const [i, what] of ['class', 'regular expression', 'quantified group', 'code', 'must match', 'unknown key'].entries())
      assert.ok(problems[i]?.startsWith(`rules[${i}]`) && problems[i]?.includes(what), problems[i])
    assert.deepEqual(
      checkShapingFile({ rules: [{ id: 'ok', class: 'reputation', enhanced: '^4\\.7\\.1$', text: 'blocked', pauseMs: 3_600_000 }] }),
      [],
    )
  })
})

describe('reply rule scopes', () => {
  const scopeOf = (provider: string | undefined, raw: string) =>
    matchReply(BUILT_IN_RULES, parseReply(raw) as NonNullable<ReturnType<typeof parseReply>>, provider, 'done')?.scope
  it("a sender's authentication holds that sender; our host's reverse DNS holds no sender; a tenant's block its domain", () => {
    assert.equal(scopeOf('google', '421 4.7.30 This mail has been rate limited because DKIM does not pass. - gsmtp'), 'sender')
    assert.equal(
      scopeOf('google', '550 5.7.25 The IP address sending this message does not have a PTR record setup. - gsmtp'),
      'destination',
    )
    assert.equal(scopeOf('microsoft', '550 5.7.25 The sending IP address has no reverse DNS (PTR) record.'), 'destination')
    assert.equal(scopeOf(undefined, '550 5.7.25 Reverse DNS lookup failed'), 'destination')
    assert.equal(scopeOf(undefined, '550 5.7.26 Unauthenticated email is not accepted due to domain DMARC policy'), 'sender')
    assert.equal(scopeOf('google', '421 4.7.0 TLS required for RCPT domain, closing connection. - gsmtp'), 'recipient_domain')
  })
})
