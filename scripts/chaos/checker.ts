import pg from 'pg'
import type { ExitRecord } from './cluster.js'
import type { FaultProblem } from './faults.js'
import type { Offer } from './loader.js'

/**
 * The checker: what the clients were told (the loader's record), what the receiver got (the
 * sink's record) and what the database says (read directly, once everything has stopped),
 * held against the promises. Every broken rule is a violation with the evidence to look it up.
 */

export interface Violation {
  rule: string
  detail: string
}

export interface CheckInput {
  databaseUrl: string
  offers: Offer[]
  /** Copies the sink received, per address. */
  received: Map<string, number>
  exits: ExitRecord[]
  faultProblems: FaultProblem[]
  scheduleMs: number[]
  jitter: number
  /** Slack for timestamps taken by different clocks and statements. */
  toleranceMs: number
}

const TERMINAL = new Set(['sent', 'delivered', 'bounced', 'expired', 'failed', 'suppressed', 'cancelled'])

interface RecipientRow {
  id: string
  email_id: string
  address: string
  status: string
  email_status: string
  possible_duplicate: boolean
  attempt_count: number
}
interface AttemptRow {
  recipient_id: string
  number: number
  started_at: Date
  finished_at: Date | null
  outcome: string | null
  duration_ms: number | null
}
interface EventRow {
  recipient_id: string
  type: string
  data: { attempt?: number; next_attempt_at?: string; late?: boolean }
}

const groupBy = <T, K>(items: T[], key: (item: T) => K): Map<K, T[]> => {
  const map = new Map<K, T[]>()
  for (const item of items) {
    const k = key(item)
    const list = map.get(k)
    if (list) list.push(item)
    else map.set(k, [item])
  }
  return map
}

export async function check(input: CheckInput) {
  const violations: Violation[] = []
  const fail = (rule: string, detail: string) => violations.push({ rule, detail })
  const client = new pg.Client({ connectionString: input.databaseUrl })
  await client.connect()
  let recipients: RecipientRow[]
  let attempts: AttemptRow[]
  let events: EventRow[]
  let emailCount: number
  try {
    recipients = (
      await client.query<RecipientRow>(
        `SELECT r.id, r.email_id, r.address, r.status::text AS status, e.status::text AS email_status, r.possible_duplicate, r.attempt_count
           FROM recipients r JOIN emails e ON e.id = r.email_id`,
      )
    ).rows
    attempts = (
      await client.query<AttemptRow>(
        `SELECT recipient_id, number, started_at, finished_at, outcome, duration_ms FROM delivery_attempts ORDER BY recipient_id, number`,
      )
    ).rows
    events = (
      await client.query<EventRow>(
        `SELECT recipient_id, type, data FROM events
          WHERE recipient_id IS NOT NULL AND type IN ('email.sent', 'email.delivered', 'email.bounced', 'email.deferred', 'email.expired', 'email.failed')`,
      )
    ).rows
    emailCount = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM emails')).rows[0]?.n ?? 0)
  } finally {
    await client.end()
  }

  const rowsByAddress = groupBy(recipients, (r) => r.address.toLowerCase())
  const offersByAddress = new Map(input.offers.map((o) => [o.address.toLowerCase(), o]))
  const eventsByRecipient = groupBy(events, (e) => e.recipient_id)
  const attemptsByRecipient = groupBy(attempts, (a) => a.recipient_id)

  // --- What the clients were told, against what is stored ------------------------------------
  let accepted = 0
  let landedUnknown = 0
  for (const offer of input.offers) {
    const rows = rowsByAddress.get(offer.address) ?? []
    const emailIds = new Set(rows.map((r) => r.email_id))
    if (emailIds.size > 1) fail('accepted-twice', `${offer.address}: ${emailIds.size} emails (${[...emailIds].join(', ')}) for one request`)
    const ids = new Set(offer.tries.map((t) => t.id).filter(Boolean))
    if (ids.size > 1) fail('idempotency', `${offer.address} (key ${offer.idempotencyKey}): 202s with different ids ${[...ids].join(', ')}`)
    const told = offer.tries
      .map((t) => `${t.outcome}${t.status ? ` ${t.status}` : ''}${t.error ? ` ${t.error}` : ''} @${t.at}ms`)
      .join('; ')
    if (offer.final === 'accepted') {
      accepted++
      if (!offer.id || !emailIds.has(offer.id)) fail('lost', `${offer.address}: told 202 id ${offer.id}, not in the database (${told})`)
    } else if (offer.final === 'unknown') {
      if (rows.length > 0) landedUnknown++
    } else if (rows.length > 0) {
      fail('refused-but-stored', `${offer.address}: told ${told}, yet stored as email ${[...emailIds].join(', ')}`)
    }
    const expected = offer.behaviour === 'hard' ? 'bounced' : 'sent'
    for (const r of rows) {
      if (!TERMINAL.has(r.status)) fail('not-terminal', `${r.address}: ${r.status} (email ${r.email_id}, ${r.attempt_count} attempts)`)
      else if (r.status !== expected) fail('wrong-status', `${r.address}: ${r.status}, expected ${expected} (email ${r.email_id})`)
      if (r.email_status !== r.status)
        fail('email-status', `${r.address}: email ${r.email_id} is ${r.email_status}, its only recipient ${r.status}`)
    }
  }
  for (const [address, rows] of rowsByAddress) {
    if (!offersByAddress.has(address)) fail('stranger', `${address}: stored (email ${rows[0]?.email_id}) but never sent by the loader`)
  }
  if (emailCount !== accepted + landedUnknown) {
    fail('count-emails', `${emailCount} emails stored, ${accepted} accepted + ${landedUnknown} unknown-outcome that landed`)
  }

  // --- What the receiver got -------------------------------------------------------------------
  const sent = recipients.filter((r) => r.status === 'sent')
  let duplicatesReceived = 0
  for (const [address, times] of input.received) {
    const rows = rowsByAddress.get(address.toLowerCase()) ?? []
    const row = rows[0]
    if (!row) fail('received-not-stored', `${address}: received ${times}× but no such recipient`)
    else if (row.status !== 'sent') fail('received-not-sent', `${address}: received ${times}× but ${row.status}`)
    if (times > 1) {
      duplicatesReceived++
      if (row && !row.possible_duplicate) fail('unflagged-duplicate', `${address}: received ${times}× without possible_duplicate`)
    }
  }
  for (const r of sent) if (!input.received.has(r.address)) fail('sent-not-received', `${r.address}: sent, but the sink never got it`)
  if (sent.length !== input.received.size)
    fail('count-sent', `${sent.length} recipients sent, ${input.received.size} distinct addresses received`)
  const flagged = recipients.filter((r) => r.possible_duplicate)
  const flaggedOnce = flagged.filter((r) => (input.received.get(r.address) ?? 0) <= 1).length

  // --- Outcome events: one per outcome ----------------------------------------------------------
  let lateDuplicateEvents = 0
  for (const r of recipients) {
    const evs = eventsByRecipient.get(r.id) ?? []
    const sentEvents = evs.filter((e) => e.type === 'email.sent')
    const bouncedEvents = evs.filter((e) => e.type === 'email.bounced').length
    const outcome = r.status === 'sent' ? sentEvents.length : r.status === 'bounced' ? bouncedEvents : undefined
    if (outcome !== undefined && outcome !== 1) {
      // A second success reported late (after the claim lapsed) is a real second delivery: allowed when flagged.
      const late = sentEvents.filter((e) => e.data.late).length
      if (r.status === 'sent' && outcome - late === 1 && r.possible_duplicate) lateDuplicateEvents += late
      else fail('events', `${r.address}: ${r.status} with ${outcome} ${r.status === 'sent' ? 'email.sent' : 'email.bounced'} events`)
    }
    if (r.status === 'bounced' && sentEvents.length > 0)
      fail('events', `${r.address}: bounced yet has ${sentEvents.length} email.sent events`)
    if (r.status === 'sent' && bouncedEvents > 0) fail('events', `${r.address}: sent yet has ${bouncedEvents} email.bounced events`)
  }

  // --- Attempts: all finished, numbered, and no retry before its time --------------------------
  let retriesChecked = 0
  let lateRecorded = 0
  const recipientById = new Map(recipients.map((r) => [r.id, r]))
  for (const a of attempts) {
    if (!a.finished_at) fail('unfinished-attempt', `${recipientById.get(a.recipient_id)?.address}: attempt ${a.number} never finished`)
  }
  for (const r of recipients) {
    const list = attemptsByRecipient.get(r.id) ?? []
    const numbers = list.map((a) => a.number).join(',')
    const want = Array.from({ length: r.attempt_count }, (_, i) => i + 1).join(',')
    if (numbers !== want) fail('attempt-rows', `${r.address}: attempt rows ${numbers || 'none'}, attempt_count ${r.attempt_count}`)
    const deferredEvents = (eventsByRecipient.get(r.id) ?? []).filter((e) => e.type === 'email.deferred')
    for (let i = 0; i + 1 < list.length; i++) {
      const a = list[i] as AttemptRow
      const b = list[i + 1] as AttemptRow
      if (a.outcome !== 'deferred' || !a.finished_at || b.number !== a.number + 1) continue
      retriesChecked++
      const base = input.scheduleMs[Math.min(a.number, input.scheduleMs.length) - 1] as number
      const minGap = base * (1 - input.jitter)
      const earliest = a.finished_at.getTime() + minGap - input.toleranceMs
      if (b.started_at.getTime() >= earliest) continue
      // The outcome may have been written late (a database restart while recording): then what
      // counts is the time the SMTP attempt ended and the retry time it was given.
      const scheduled = deferredEvents.find((e) => e.data.attempt === a.number)?.data.next_attempt_at
      const smtpEnd = a.started_at.getTime() + (a.duration_ms ?? 0)
      const at = scheduled ? Date.parse(scheduled) : Number.NaN
      if (at >= smtpEnd + minGap - input.toleranceMs && b.started_at.getTime() >= at - input.toleranceMs) {
        lateRecorded++
        continue
      }
      fail(
        'early-retry',
        `${r.address}: attempt ${b.number} started ${b.started_at.toISOString()}, ${b.started_at.getTime() - a.finished_at.getTime()} ms after ` +
          `attempt ${a.number} finished (${a.finished_at.toISOString()}); the schedule allows ${minGap} ms at the least (scheduled ${scheduled ?? 'unknown'})`,
      )
    }
  }

  // --- The processes and the faults ------------------------------------------------------------
  for (const e of input.exits) {
    if (!e.expected) fail('unexpected-exit', `${e.name} (pid ${e.pid}) exited by itself at ${e.at} ms: code ${e.code}, signal ${e.signal}`)
  }
  for (const p of input.faultProblems) fail('fault', `at ${p.at} ms: ${p.what}`)

  const byStatus: Record<string, number> = {}
  for (const r of recipients) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1
  const byOutcome: Record<string, number> = {}
  for (const a of attempts) byOutcome[a.outcome ?? 'open'] = (byOutcome[a.outcome ?? 'open'] ?? 0) + 1
  return {
    violations,
    stats: {
      emails: emailCount,
      accepted,
      landedUnknown,
      recipientsByStatus: byStatus,
      attempts: attempts.length,
      attemptsByOutcome: byOutcome,
      sinkAddresses: input.received.size,
      sinkMessages: [...input.received.values()].reduce((a, b) => a + b, 0),
      duplicatesReceived,
      flagged: flagged.length,
      flaggedReceivedOnce: flaggedOnce,
      lateDuplicateEvents,
      retriesChecked,
      retriesRecordedLate: lateRecorded,
    },
  }
}

export type CheckResult = Awaited<ReturnType<typeof check>>
