import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { type ComposableAttachment, type ComposableRow, composableFromRow, composeMessage } from '../delivery/mime.compose.js'

/** The most of a message the raw view shows: enough for every header and the start of the body. */
export const RAW_VIEW_BYTES = 512 * 1024
/** Characters of each body part read for composing it (the view shows no more anyway). */
const PART_CHARS = 256 * 1024

/**
 * A stored message as RFC 5322 bytes, for reading (the dashboard's raw view): composed from its
 * parts as the worker composes it, or the bytes as submitted over SMTP. The DKIM signature and
 * the per-recipient headers the worker adds at send time are not part of it. Only the start of
 * everything is read (a 25 MB message costs the view no more than a small one): the bytes
 * submitted, each body part, and no attachment content (a line saying its size stands in).
 */
export function createEmailSourceRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    async raw(accountId: string, emailId: string): Promise<{ bytes: Buffer; truncated: boolean; purgedAt: Date | null } | undefined> {
      const { rows } = await pool.query<ComposableRow & { size_bytes: number; body_purged_at: Date | null }>(
        `SELECT from_header, to_header, cc_header, reply_to, subject, left(text, $3) AS text, left(html, $3) AS html, headers,
                message_id, created_at, substring(raw FROM 1 FOR $4) AS raw, size_bytes, body_purged_at
           FROM emails WHERE id = $1 AND account_id = $2`,
        [emailId, accountId, PART_CHARS, RAW_VIEW_BYTES],
      )
      const row = rows[0]
      if (!row) return undefined
      const { rows: parts } = await pool.query<{ filename: string; content_type: string; content_id: string | null; size: number }>(
        'SELECT filename, content_type, content_id, size FROM email_attachments WHERE email_id = $1 ORDER BY position LIMIT 100',
        [emailId],
      )
      const email = composableFromRow(row)
      const attachments: ComposableAttachment[] = parts.map((p) => ({
        filename: p.filename,
        contentType: p.content_type,
        contentId: p.content_id,
        content: Buffer.from(`[${p.size} bytes not shown]`),
      }))
      const bytes = await composeMessage(email, attachments)
      const partial = parts.length > 0 || (row.raw !== null && row.size_bytes > RAW_VIEW_BYTES) || bytes.length > RAW_VIEW_BYTES
      return {
        purgedAt: row.body_purged_at,
        bytes: bytes.subarray(0, RAW_VIEW_BYTES),
        truncated: partial || (row.text?.length ?? 0) >= PART_CHARS || (row.html?.length ?? 0) >= PART_CHARS,
      }
    },
  })
}

export type EmailSourceRepository = ReturnType<typeof createEmailSourceRepository>
