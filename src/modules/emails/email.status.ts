import { type EmailStatus, isTerminal, type RecipientStatus } from './email.types.js'

// Most active first: what a dashboard should show while any recipient is still moving.
const PENDING_ORDER: RecipientStatus[] = ['sending', 'deferred', 'queued', 'scheduled']
const SUCCESS: RecipientStatus[] = ['sent', 'delivered']

/**
 * A message's status from its recipients' (docs/architecture.md §4): one shared status wins; while any is
 * pending, the most active pending one; all terminal and all succeeded → sent (or delivered when
 * all were delivered); some succeeded → partially_delivered; otherwise the most common failure.
 */
export function aggregateStatus(statuses: readonly RecipientStatus[]): EmailStatus {
  if (statuses.length === 0) return 'queued'
  const first = statuses[0] as RecipientStatus
  if (statuses.every((s) => s === first)) return first
  for (const pending of PENDING_ORDER) if (statuses.includes(pending)) return pending
  if (statuses.every((s) => SUCCESS.includes(s))) return statuses.every((s) => s === 'delivered') ? 'delivered' : 'sent'
  if (statuses.some((s) => SUCCESS.includes(s))) return 'partially_delivered'
  return mostCommon(statuses.filter(isTerminal))
}

function mostCommon(statuses: RecipientStatus[]): RecipientStatus {
  const counts = new Map<RecipientStatus, number>()
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1)
  // Ties go to the status seen first, which keeps the result stable for equal inputs.
  let best = statuses[0] as RecipientStatus
  for (const [status, count] of counts) if (count > (counts.get(best) ?? 0)) best = status
  return best
}
