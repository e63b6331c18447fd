// The reply-rule table's cost, measured in the driver's process on the built code (dist/): the
// providers' real refusals (docs/architecture.md §10) parsed and matched against the built-in
// table, as a worker does for every refused reply, and a worst case (a reply no rule matches,
// whose text is as long as the rules read). Bounded in count and time.

import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'

const REPLIES = [
  ['google', 'rcpt', '421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp'],
  ['google', 'data', "550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy. - gsmtp"],
  ['google', 'data', '421-4.7.30 This mail has been rate limited because DKIM does not pass. - gsmtp'],
  ['google', 'rcpt', '550-5.1.1 The email account that you tried to reach does not exist. - gsmtp'],
  [
    'microsoft',
    'rcpt',
    "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
  ],
  ['microsoft', 'rcpt', '550 5.7.606 Access denied, banned sending IP [192.0.2.1].'],
  ['microsoft', 'mail', '421 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.'],
  ['yahoo', 'mail', '421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints'],
  ['yahoo', 'data', '421 Max message per connection reached, closing transmission channel'],
  ['yahoo', 'rcpt', '554 5.7.9 Message not accepted for policy reasons. See https://postmaster.yahooinc.com/error-codes'],
  ['docomo', 'data', '554 Transaction failed'],
  [undefined, 'rcpt', '452 4.2.2 Mailbox full'],
  [undefined, 'mail', '421 4.3.2 Service not available, closing transmission channel'],
]

export async function measureRules(root, { maxMs = 3_000, rounds = 20_000 } = {}) {
  const load = (file) => import(pathToFileURL(join(root, 'dist', 'modules', 'delivery', file)).href)
  const { BUILT_IN_RULES, matchReply } = await load('reply-rules.js')
  const { parseReply } = await load('smtp-reply.classify.js')
  const filler = ' lorem ipsum dolor sit amet'.repeat(80).slice(0, 2_000)
  const worst = [[undefined, 'data', `451 4.3.0 Temporary local problem${filler}`]]
  const run = (set) => {
    let n = 0
    let matched = 0
    const deadline = performance.now() + maxMs
    const t0 = performance.now()
    for (let i = 0; i < rounds && performance.now() < deadline; i++) {
      for (const [provider, phase, raw] of set) {
        const reply = parseReply(raw)
        if (reply && matchReply(BUILT_IN_RULES, reply, provider, phase)) matched++
        n++
      }
    }
    return { n, matched, usPerReply: ((performance.now() - t0) * 1000) / n }
  }
  run(REPLIES.slice(0, 3)) // warm the JIT
  return { rules: BUILT_IN_RULES.length, mix: run(REPLIES), worst: run(worst) }
}
