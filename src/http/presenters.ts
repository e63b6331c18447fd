import { validationFailed } from '../lib/errors.js'
import { isUuid } from '../lib/uuid.js'
import type { ApiKeyView } from '../modules/api-keys/api-key.types.js'
import type { DomainView } from '../modules/domains/domain.types.js'
import type { EmailDetail, EmailSummaryRow } from '../modules/emails/email.repository.js'
import type { EventRow } from '../modules/events/event.repository.js'
import type { Suppression } from '../modules/suppressions/suppression.types.js'

/** Shapes domain objects into the API's snake_case JSON. Dates become RFC 3339 strings. */
export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null)

/** Cursors are opaque to callers: the id of the last item, wrapped so its form can change. */
export const encodeCursor = (id: string): string => Buffer.from(`v1:${id}`).toString('base64url')
export const decodeCursor = (cursor: string): string | undefined => {
  const text = Buffer.from(cursor, 'base64url').toString()
  const id = text.startsWith('v1:') ? text.slice(3) : undefined
  return id && isUuid(id) ? id : undefined
}

/** The id a `?cursor=` names (undefined without one); 422 for a cursor this API did not hand out. */
export const cursorId = (cursor: string | undefined): string | undefined => {
  if (cursor === undefined) return undefined
  const id = decodeCursor(cursor)
  if (!id) throw validationFailed([{ path: '/query/cursor', message: 'is not a cursor this API returned' }])
  return id
}

export const nextCursor = <T extends { id: string }>(items: T[], limit: number): string | null =>
  items.length === limit && items.length > 0 ? encodeCursor((items[items.length - 1] as T).id) : null

export function presentEvent(e: EventRow) {
  return {
    id: e.id,
    type: e.type,
    created_at: e.created_at.toISOString(),
    email_id: e.email_id,
    recipient: e.recipient,
    tags: e.tags,
    data: e.data,
  }
}

export function presentEmail(email: EmailDetail, events: EventRow[]) {
  const addressById = new Map(email.recipients.map((r) => [r.id, r.address]))
  return {
    id: email.id,
    status: email.status,
    source: email.source,
    from: email.fromHeader,
    to: email.toHeader,
    cc: email.ccHeader,
    reply_to: email.replyTo,
    subject: email.subject,
    headers: email.headers,
    tags: email.tags,
    stream: email.stream,
    message_id: email.messageId,
    size_bytes: email.sizeBytes,
    scheduled_at: iso(email.scheduledAt),
    expires_at: email.expiresAt.toISOString(),
    created_at: email.createdAt.toISOString(),
    updated_at: email.updatedAt.toISOString(),
    attachments: email.attachments.map((a) => ({
      filename: a.filename,
      content_type: a.contentType,
      content_id: a.contentId,
      size: a.size,
    })),
    recipients: email.recipients.map((r) => ({
      address: r.address,
      kind: r.kind,
      status: r.status,
      reason: r.reason,
      attempts: r.attemptCount,
      attempts_total: r.attemptsTotal,
      // While sending, next_attempt_at holds the lease expiry: an internal detail.
      next_attempt_at: r.status === 'sending' ? null : iso(r.nextAttemptAt),
      last_reply:
        r.lastCode === null && r.lastReply === null ? null : { code: r.lastCode, enhanced_code: r.lastEnhancedCode, text: r.lastReply },
      possible_duplicate: r.possibleDuplicate,
      bounce_category: r.bounceCategory,
      updated_at: r.updatedAt.toISOString(),
    })),
    attempts: email.recipients
      .flatMap((r) => r.attempts)
      .sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a.id.localeCompare(b.id))
      .map((a) => ({
        recipient: addressById.get(a.recipientId) ?? '',
        number: a.number,
        started_at: a.startedAt.toISOString(),
        finished_at: iso(a.finishedAt),
        outcome: a.outcome,
        phase: a.phase,
        remote_host: a.remoteHost,
        remote_ip: a.remoteIp,
        smtp_code: a.smtpCode,
        enhanced_code: a.enhancedCode,
        reply: a.reply,
        tls_version: a.tlsVersion,
        tls_cipher: a.tlsCipher,
        duration_ms: a.durationMs,
      })),
    events: events.map(presentEvent),
  }
}

export function presentSummary(e: EmailSummaryRow) {
  return {
    id: e.id,
    status: e.status,
    source: e.source,
    from: e.from_header,
    to: e.to_header,
    subject: e.subject,
    tags: e.tags,
    stream: e.stream,
    scheduled_at: iso(e.scheduled_at),
    created_at: e.created_at.toISOString(),
    updated_at: e.updated_at.toISOString(),
  }
}

export function presentApiKey(k: ApiKeyView) {
  return {
    id: k.id,
    name: k.name,
    scope: k.scope,
    hint: k.hint,
    created_at: k.createdAt.toISOString(),
    last_used_at: iso(k.lastUsedAt),
    revoked_at: iso(k.revokedAt),
  }
}

/** A sending domain and the records to publish; its private keys are never part of it. */
export function presentDomain(d: DomainView) {
  return {
    id: d.id,
    name: d.name,
    status: d.status,
    dkim_selector: d.dkimSelector,
    return_path_domain: d.returnPathDomain,
    records: d.records.map((r) => ({
      type: r.type,
      name: r.name,
      value: r.value,
      purpose: r.purpose,
      status: r.status,
      ...(r.seen ? { seen: r.seen } : {}),
      ...(r.error ? { error: r.error } : {}),
    })),
    verified_at: iso(d.verifiedAt),
    checked_at: iso(d.checkedAt),
    created_at: d.createdAt.toISOString(),
  }
}

/** A suppression list entry; `stream` null means every stream of the account. */
export function presentSuppression(s: Suppression) {
  return {
    address: s.address,
    stream: s.stream,
    reason: s.reason,
    source: s.source,
    expires_at: iso(s.expiresAt),
    created_at: s.createdAt.toISOString(),
  }
}
