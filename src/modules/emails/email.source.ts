import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { type ComposableAttachment, type ComposableEmail, composeMessage } from '../delivery/mime.compose.js'

/** The most of a message the raw view shows: enough for every header and the start of the body. */
export const RAW_VIEW_BYTES = 512 * 1024

/**
 * A stored message as RFC 5322 bytes, for reading (the dashboard's raw view): composed from its
 * parts as the worker composes it, or the bytes as submitted over SMTP. The DKIM signature and
 * the per-recipient headers the worker adds at send time are not part of it.
 */
export function createEmailSourceRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    async raw(accountId: string, emailId: string): Promise<{ bytes: Buffer; truncated: boolean } | undefined> {
      const { rows } = await pool.query<{
        from_header: string
        to_header: string[]
        cc_header: string[]
        reply_to: string[]
        subject: string
        text: string | null
        html: string | null
        headers: Record<string, string>
        message_id: string
        created_at: Date
        raw: Buffer | null
      }>(
        `SELECT from_header, to_header, cc_header, reply_to, subject, text, html, headers, message_id, created_at, raw
           FROM emails WHERE id = $1 AND account_id = $2`,
        [emailId, accountId],
      )
      const row = rows[0]
      if (!row) return undefined
      const { rows: parts } = await pool.query<{ filename: string; content_type: string; content_id: string | null; content: Buffer }>(
        'SELECT filename, content_type, content_id, content FROM email_attachments WHERE email_id = $1 ORDER BY position',
        [emailId],
      )
      const email: ComposableEmail = {
        fromHeader: row.from_header,
        toHeader: row.to_header,
        ccHeader: row.cc_header,
        replyTo: row.reply_to,
        subject: row.subject,
        text: row.text,
        html: row.html,
        headers: row.headers,
        messageId: row.message_id,
        createdAt: row.created_at,
        raw: row.raw,
      }
      const attachments: ComposableAttachment[] = parts.map((p) => ({
        filename: p.filename,
        contentType: p.content_type,
        contentId: p.content_id,
        content: p.content,
      }))
      const bytes = await composeMessage(email, attachments)
      return { bytes: bytes.subarray(0, RAW_VIEW_BYTES), truncated: bytes.length > RAW_VIEW_BYTES }
    },
  })
}

export type EmailSourceRepository = ReturnType<typeof createEmailSourceRepository>
