import { isDataError } from '../../infra/db.js'
import type { Logger } from '../../infra/logger.js'
import { createBatcher } from '../../lib/batcher.js'
import { unavailable } from '../../lib/errors.js'
import { isUuid } from '../../lib/uuid.js'
import type { Applied, Effect, FeedbackRepository, ReportTarget, ReportToApply, StoredReport } from './feedback.repository.js'
import { type ParsedReport, parseReport } from './report.parse.js'
import { isComplaintAddress, parseReturnPath } from './verp.js'

/** One message received for the return-path domain, as the inbound listener (or --stdin) got it. */
export interface InboundMessage {
  raw: Buffer
  /** The envelope sender: empty for a DSN. */
  mailFrom: string
  rcptTo: string[]
}

export interface ReceiveResult {
  reportId: string
  kind: ParsedReport['kind']
  /** Recipients the report was matched to. */
  matched: number
  /** Events it added (a report received twice adds none the second time). */
  applied: number
}

const lower = (a: string | undefined) => a?.trim().toLowerCase()

/**
 * Bounces and complaints in (docs/architecture.md §8). A report is matched to recipients through
 * the signed return path it was sent to (or the one its returned original header carries), then
 * by the address it names; failing that, through the Message-ID Hikyaku gave the email. Anything
 * that matches nothing is still stored, as what it is.
 */
export function createFeedbackService(deps: {
  repository: FeedbackRepository
  secret: string
  logger: Logger
  /** Database connections the report batches may use at once (each batch is one transaction). */
  concurrency: number
  /** Told of the complaints a report recorded, once it is committed (the complaint-rate guard). */
  onComplaints?: (seen: Array<{ accountId: string; stream: string; emailId: string }>) => Promise<void>
  /** Told of each report stored, its kind and whether it matched a recipient (the process's metrics). */
  onReport?: (kind: ParsedReport['kind'], matched: boolean) => void
}) {
  const { repository, secret } = deps

  // Reports arrive on many connections at once: their writes share one transaction (and the
  // statement that finds and locks their recipients) instead of a round trip and a commit each.
  const writer = createBatcher<ReportToApply, Applied>({
    maxBatchSize: 100,
    concurrency: deps.concurrency,
    // Raw reports are kept up to 256 KiB each: a batch's statement stays within a few MiB.
    weight: (item) => Math.min(item.raw.length, 256 * 1024),
    maxBatchWeight: 4 * 1024 * 1024,
    // A report whose data the database refuses fails only itself: its batch is run again one report
    // at a time. Anything else (the database away, a deadlock, a commit whose answer was lost)
    // fails the batch: its senders are answered 451 and bring their reports again.
    onFailure: async (items, err) => (isDataError(err) ? 'isolate' : items.map(() => ({ ok: false as const, error: err }))),
    run: (items) => repository.applyMany(items),
  })

  /**
   * Whether the listener takes mail for this address: a signed return path, or the complaint
   * address of a return-path domain some account has (so that the listener is not a sink for
   * mail to any domain that points its MX here).
   */
  async function accepts(address: string): Promise<boolean> {
    if (parseReturnPath(secret, address) !== undefined) return true
    if (!isComplaintAddress(address)) return false
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase()
    const cached = knownDomains.get(domain)
    if (cached && cached.until > Date.now()) return cached.known
    const known = await repository.isReturnPathDomain(domain)
    if (knownDomains.size > 10_000) knownDomains.clear()
    knownDomains.set(domain, { known, until: Date.now() + 60_000 })
    return known
  }
  const knownDomains = new Map<string, { known: boolean; until: number }>()

  /** The deliveries a report came back through: the signed return paths it was sent to, or the one its returned header carries. */
  function deliveriesOf(message: InboundMessage, report: ParsedReport): string[] {
    const ids = new Set<string>()
    for (const rcpt of message.rcptTo) {
      const verp = parseReturnPath(secret, rcpt)
      if (verp) ids.add(verp.deliveryId)
    }
    // A complaint goes to the complaint address: the return path is in the original's header.
    const original = report.originalReturnPath ? parseReturnPath(secret, report.originalReturnPath) : undefined
    if (original) ids.add(original.deliveryId)
    return [...ids].slice(0, 5)
  }

  /**
   * The recipient of a report that names no signed return path, found by the Message-ID.
   * Hikyaku's own Message-IDs are <email id@domain>; the stored Message-ID must match too. A
   * Message-ID is no secret to the email's recipients, so this path is taken only for an email
   * with one recipient: otherwise one recipient could make up a complaint about another.
   */
  async function byMessageId(report: ParsedReport): Promise<ReportTarget[]> {
    if (!report.originalMessageId) return []
    const messageId = report.originalMessageId.startsWith('<') ? report.originalMessageId : `<${report.originalMessageId}>`
    const emailId = messageId.slice(1, messageId.indexOf('@'))
    if (!isUuid(emailId)) return []
    const targets = await repository.recipientsOfEmail(emailId.toLowerCase(), messageId)
    return targets.length === 1 ? targets : []
  }

  /** The targets a report names among the candidates; a report about a one-recipient delivery names it. */
  function pick(targets: ReportTarget[], addresses: Array<string | undefined>): ReportTarget[] {
    const wanted = new Set(addresses.map(lower).filter((a): a is string => !!a))
    const named = targets.filter((t) => wanted.has(t.address.toLowerCase()))
    if (named.length > 0) return named
    // Providers redact the recipient in complaints (Microsoft JMRP) and some MTAs rewrite it in
    // DSNs: a delivery to one recipient can only be about that one.
    return targets.length === 1 ? targets : []
  }

  function effectsOf(report: ParsedReport, targets: ReportTarget[]): Effect[] {
    const effects: Effect[] = []
    // The signed return path proves the delivery, not the recipient: with several recipients any
    // of them could have written the report about another.
    const shared = targets.length > 1
    if (report.kind === 'dsn') {
      for (const r of report.recipients) {
        const action = r.action.toLowerCase()
        if (action !== 'failed' && action !== 'delayed') continue
        for (const target of pick(targets, [r.finalRecipient, r.originalRecipient])) {
          const detail = { target, shared, status: r.status, diagnostic: r.diagnostic, remoteMta: r.remoteMta }
          effects.push(action === 'failed' ? { kind: 'bounce', category: r.category, ...detail } : { kind: 'delay', ...detail })
        }
      }
    } else if (report.kind === 'arf') {
      // Not complaints: a reader marking mail as not spam, or a report about failed authentication.
      if (report.feedbackType === 'not-spam' || report.feedbackType === 'auth-failure') return effects
      // Original-Rcpt-To names who complained; the returned To: header names everyone the message
      // was addressed to, so it is only read when the report says nothing else.
      const named = report.originalRcptTo?.length ? report.originalRcptTo : (report.originalTo ?? [])
      for (const target of pick(targets, named)) {
        effects.push({ kind: 'complaint', target, shared, feedbackType: report.feedbackType, userAgent: report.userAgent })
      }
    } else if (report.guess && (report.guess.status?.startsWith('5') || (report.guess.code ?? 0) >= 500)) {
      // Not a standard report, but it says 5xx about addresses we sent to through a signed return
      // path: that is a bounce, whatever its format.
      const { guess } = report
      for (const target of pick(targets, guess.recipients ?? [])) {
        effects.push({ kind: 'bounce', target, shared, category: guess.category, status: guess.status, diagnostic: guess.diagnostic })
      }
    }
    return effects
  }

  return {
    accepts,

    async receive(message: InboundMessage): Promise<ReceiveResult> {
      const report = await parseReport(message.raw)
      const deliveryIds = deliveriesOf(message, report)
      let complained: Array<{ accountId: string; stream: string; emailId: string }> = []
      const done = await writer.push({
        deliveryIds,
        targets: deliveryIds.length === 0 ? await byMessageId(report) : [],
        raw: message.raw,
        // Run once the candidates are locked: the effects depend on their status.
        build: (targets) => {
          const effects = effectsOf(report, targets)
          complained = effects
            .filter((e) => e.kind === 'complaint')
            .map((e) => ({ accountId: e.target.accountId, stream: e.target.stream, emailId: e.target.emailId }))
          const stored: StoredReport = {
            kind: report.kind,
            mailFrom: message.mailFrom.slice(0, 1_000),
            rcptTo: message.rcptTo.join(', ').slice(0, 1_000),
            summary: summaryOf(report, effects),
            raw: message.raw,
            truncated: report.truncated === true,
          }
          return { report: stored, effects }
        },
      })
      if ('wait' in done) throw unavailable('A delivery this report is about is still being recorded; try again later', 60)
      const { id, applied, matched } = done
      deps.onReport?.(report.kind, matched > 0)
      // Judged off the inbound path: the report is stored, and its sender need not wait for the guard.
      if (complained.length > 0 && applied > 0) {
        deps.onComplaints?.(complained).catch((err) => deps.logger.warn({ err: String(err) }, 'the complaint-rate guard failed'))
      }
      deps.logger.info({ reportId: id, kind: report.kind, matched, applied }, 'inbound report received')
      return { reportId: id, kind: report.kind, matched, applied }
    },
  }
}

export type FeedbackService = ReturnType<typeof createFeedbackService>

/** What is kept of a report next to its raw bytes: enough to read it without parsing again. */
function summaryOf(report: ParsedReport, effects: Effect[]): Record<string, unknown> {
  const matched = effects.map((e) => ({
    recipient_id: e.target.id,
    effect: e.kind,
    ...(e.kind === 'bounce' ? { category: e.category } : {}),
  }))
  const original = { message_id: report.originalMessageId, return_path: report.originalReturnPath }
  if (report.kind === 'dsn') {
    return { reporting_mta: report.reportingMta, recipients: report.recipients.slice(0, 50), original, matched }
  }
  if (report.kind === 'arf') {
    return { feedback_type: report.feedbackType, user_agent: report.userAgent, original_rcpt_to: report.originalRcptTo, original, matched }
  }
  return { subject: report.subject, from: report.from, guess: report.guess, error: report.error, original, matched }
}
