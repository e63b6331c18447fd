import { writeFileSync } from 'node:fs'
import type { CheckResult, Violation } from './checker.js'
import type { ExitRecord } from './cluster.js'
import type { FaultRecord } from './faults.js'
import type { Offer, TryOutcome } from './loader.js'
import type { ChaosOptions } from './options.js'

/** The run's summary: printed as text, written as JSON. */
export interface Summary {
  startedAt: string
  seed: number
  options: Omit<ChaosOptions, 'seed'>
  timings: Record<string, string>
  phases: { loadMs: number; settleMs: number | null; totalMs: number }
  messages: {
    offered: number
    shed: number
    accepted: number
    refused: number
    refusedByStatus: Record<string, number>
    unreachable: number
    unknown: number
    unknownLanded: number
    withIdempotencyKey: number
    idempotentRetries: number
    byBehaviour: Record<string, number>
    /** Every request not simply answered 202 at once (refused, unknown, unreachable, retried): the evidence. */
    notPlain: Offer[]
  }
  faults: { total: number; byKind: Record<string, number>; log: FaultRecord[] }
  deploys: Array<{ name: string; code: number | null; signal: string | null; drainMs: number }>
  finalStop: ExitRecord[]
  check: CheckResult['stats'] | null
  violations: Violation[]
  violationsByRule: Record<string, number>
  logDir: string
  selfTest?: { expected: string[]; missed: string[] }
  error?: string
}

const count = <T>(items: T[], key: (item: T) => string): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1
  return out
}

export function messageFigures(offers: Offer[], shed: number, landed: number): Summary['messages'] {
  const final = (outcome: TryOutcome) => offers.filter((o) => o.final === outcome)
  const refused = final('refused')
  return {
    offered: offers.length,
    shed,
    accepted: final('accepted').length,
    refused: refused.length,
    refusedByStatus: count(refused, (o) => String(o.tries.at(-1)?.status ?? '?')),
    unreachable: final('unreachable').length,
    unknown: final('unknown').length,
    unknownLanded: landed,
    withIdempotencyKey: offers.filter((o) => o.idempotencyKey).length,
    idempotentRetries: offers.reduce((n, o) => n + Math.max(0, o.tries.length - 1), 0),
    byBehaviour: count(offers, (o) => o.behaviour),
    notPlain: offers.filter((o) => o.final !== 'accepted' || o.tries.length > 1),
  }
}

export const faultFigures = (log: FaultRecord[]): Summary['faults'] => ({
  total: log.length,
  byKind: count(log, (f) => f.kind),
  log,
})

const line = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none'

/** The summary as text; violations listed (the first 25 of each rule) with their evidence. */
export function formatSummary(s: Summary): string {
  const m = s.messages
  const c = s.check
  const out = [
    '',
    `Chaos soak, seed ${s.seed}, started ${s.startedAt}`,
    `  duration: load ${(s.phases.loadMs / 1000).toFixed(0)} s, settle ${s.phases.settleMs === null ? 'not reached' : `${(s.phases.settleMs / 1000).toFixed(1)} s`}, total ${(s.phases.totalMs / 1000).toFixed(0)} s`,
    `  messages: ${m.offered} offered (${m.shed} shed at the concurrency cap), ${m.accepted} accepted, ${m.refused} refused (${line(m.refusedByStatus)}), ${m.unreachable} unreachable, ${m.unknown} unknown outcome (${m.unknownLanded} of them landed)`,
    `  behaviours: ${line(m.byBehaviour)}; ${m.withIdempotencyKey} with an Idempotency-Key, ${m.idempotentRetries} retries`,
    `  faults: ${s.faults.total} (${line(s.faults.byKind)})`,
    `  deploys: ${s.deploys.map((d) => `${d.name} exit ${d.code ?? d.signal} in ${d.drainMs} ms`).join('; ') || 'none'}`,
    `  final stop: ${s.finalStop.map((e) => `${e.name} exit ${e.code ?? e.signal}`).join(', ') || 'none'}`,
  ]
  if (c) {
    out.push(
      `  database: ${c.emails} emails; recipients ${line(c.recipientsByStatus)}; ${c.attempts} attempts (${line(c.attemptsByOutcome)})`,
      `  receiver: ${c.sinkMessages} messages to ${c.sinkAddresses} addresses; ${c.duplicatesReceived} received more than once, ${c.flagged} flagged possible_duplicate (${c.flaggedReceivedOnce} of them received once)`,
      `  retries checked against the schedule: ${c.retriesChecked} (${c.retriesRecordedLate} recorded late, on time from the SMTP end)`,
    )
  }
  if (s.error) out.push(`  ERROR: ${s.error}`)
  out.push(`  violations: ${s.violations.length === 0 ? 'none' : `${s.violations.length} (${line(s.violationsByRule)})`}`)
  const shown = new Map<string, number>()
  for (const v of s.violations) {
    const n = (shown.get(v.rule) ?? 0) + 1
    shown.set(v.rule, n)
    if (n <= 25) out.push(`    [${v.rule}] ${v.detail}`)
    else if (n === 26) out.push(`    [${v.rule}] … more in the JSON summary`)
  }
  out.push(`  logs: ${s.logDir}`)
  return out.join('\n')
}

export function writeSummary(file: string, s: Summary): void {
  writeFileSync(file, `${JSON.stringify(s, null, 2)}\n`)
}
