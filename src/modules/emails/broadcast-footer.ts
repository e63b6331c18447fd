import { validationFailed } from '../../lib/errors.js'
import type { EmailDraft } from './email.types.js'
import { estimateEncodedSize } from './email.validate.js'

/** Long enough for a name, a postal address, a contact and how to refuse further mail, in two languages. */
export const MAX_FOOTER_CHARS = 2_000

// Line breaks and tabs are the only control characters a footer may hold (C1 controls and the
// Unicode line and paragraph separators neither: mail readers show them inconsistently).
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/

/** A footer as an account sets it: trimmed, its line breaks made \n; null to remove it. */
export function checkFooter(value: string | null): string | null {
  if (value === null) return null
  const footer = value.replace(/\r\n?/g, '\n').trim()
  const problems: string[] = []
  if (footer.length === 0) problems.push('is empty: send null to remove the footer')
  // Characters as people count them (code points), not UTF-16 units.
  if ([...footer].length > MAX_FOOTER_CHARS) problems.push(`is longer than ${MAX_FOOTER_CHARS} characters`)
  if (CONTROL.test(footer)) problems.push('holds control characters other than line breaks and tabs')
  if (!footer.isWellFormed()) problems.push('holds an unpaired UTF-16 surrogate: send valid Unicode text')
  if (problems.length > 0) throw validationFailed(problems.map((message) => ({ path: '/broadcast_footer', message })))
  return footer
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')

/** The footer as HTML: escaped (it is the account's text, never markup), its lines kept. */
export const footerHtml = (footer: string): string =>
  `<div class="hikyaku-footer" style="margin-top:2em;font-size:12px;color:#555">${escapeHtml(footer).replace(/\n/g, '<br>\n')}</div>`

const BODY_END = /<\/body\s*>/gi

/** Inserts `block` before the last `</body>` of an HTML document, or appends it to a fragment. */
function intoBody(html: string, block: string): string {
  // Found in the HTML itself: positions in a lower-cased copy can differ (İ lower-cases to two characters).
  let at = -1
  for (const m of html.matchAll(BODY_END)) at = m.index
  return at < 0 ? `${html}\n${block}` : `${html.slice(0, at)}${block}\n${html.slice(at)}`
}

/**
 * A broadcast message with the account's footer in its text and its HTML (the sender details
 * Japan's Act on Specified Electronic Mail requires in advertising mail, a postal address for
 * CAN-SPAM). Transactional mail is left alone. The size is estimated again, footer included (the caller checks it against the limit).
 */
export function withBroadcastFooter(
  draft: EmailDraft,
  footer: string | null | undefined,
  broadcast = draft.stream === 'broadcast',
): EmailDraft {
  if (!footer || !broadcast) return draft
  const text = draft.text === undefined ? undefined : `${draft.text.replace(/\s+$/, '')}\n\n${footer}\n`
  const html = draft.html === undefined ? undefined : intoBody(draft.html, footerHtml(footer))
  const withFooter = { ...draft, text, html }
  return { ...withFooter, sizeBytes: estimateEncodedSize(withFooter) }
}
