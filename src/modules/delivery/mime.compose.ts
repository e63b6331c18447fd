import MailComposer from 'nodemailer/lib/mail-composer'

export interface ComposableEmail {
  fromHeader: string
  toHeader: string[]
  ccHeader: string[]
  replyTo: string[]
  subject: string
  text: string | null
  html: string | null
  headers: Record<string, string>
  messageId: string
  createdAt: Date
  /** Set for messages submitted over SMTP: sent exactly as received. */
  raw: Buffer | null
}

/** The columns of `emails` a message is composed from, as SQL returns them. */
export interface ComposableRow {
  from_header: string
  to_header: string[]
  cc_header: string[]
  reply_to: string[]
  subject: string
  text: string | null
  html: string | null
  headers: Record<string, string>
  message_id: string
  raw: Buffer | null
  created_at: Date
}

export const composableFromRow = (row: ComposableRow): ComposableEmail => ({
  fromHeader: row.from_header,
  toHeader: row.to_header,
  ccHeader: row.cc_header,
  replyTo: row.reply_to,
  subject: row.subject,
  text: row.text,
  html: row.html,
  headers: row.headers,
  messageId: row.message_id,
  raw: row.raw,
  createdAt: row.created_at,
})

export interface ComposableAttachment {
  filename: string
  contentType: string
  contentId: string | null
  content: Buffer
}

/**
 * The RFC 5322 bytes of a message. Message-ID and Date come from the stored email, so every
 * retry sends the same message. Bcc is never written: Bcc recipients exist only in the envelope.
 */
export async function composeMessage(email: ComposableEmail, attachments: ComposableAttachment[]): Promise<Buffer> {
  if (email.raw) return email.raw
  const composer = new MailComposer({
    from: email.fromHeader,
    to: email.toHeader.length > 0 ? email.toHeader : undefined,
    cc: email.ccHeader.length > 0 ? email.ccHeader : undefined,
    replyTo: email.replyTo.length > 0 ? email.replyTo : undefined,
    subject: email.subject,
    text: email.text ?? undefined,
    html: email.html ?? undefined,
    headers: email.headers,
    messageId: email.messageId,
    date: email.createdAt,
    attachments: attachments.map((a) => ({
      filename: a.filename,
      content: a.content,
      contentType: a.contentType,
      cid: a.contentId ?? undefined,
    })),
    // Content is always in the request itself; never let a message pull in files or URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
    newline: 'win',
  })
  return composer.compile().build()
}
