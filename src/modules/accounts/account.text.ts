import { type ErrorDetail, validationFailed } from '../../lib/errors.js'

/** Long enough for a company's full name; short enough for a line of a listing. */
export const MAX_ACCOUNT_NAME_CHARS = 200

/** Long enough for a sentence and a ticket reference. */
export const MAX_SUSPEND_REASON_CHARS = 500

// One line each: names and reasons are shown in listings, logs and terminals, where a line break,
// an escape sequence or a Unicode line separator would forge or garble what follows.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

/** The text trimmed, or the problems with it as details at `path`. */
function oneLine(value: string, path: string, max: number, what: string): { text: string; problems: ErrorDetail[] } {
  const text = value.trim()
  const problems: ErrorDetail[] = []
  if (text.length === 0) problems.push({ path, message: `is empty: give the ${what}` })
  // Characters as people count them (code points), not UTF-16 units.
  if ([...text].length > max) problems.push({ path, message: `is longer than ${max} characters` })
  if (CONTROL.test(text)) problems.push({ path, message: 'holds control characters or line breaks: give one line of text' })
  if (!text.isWellFormed()) problems.push({ path, message: 'holds an unpaired UTF-16 surrogate: send valid Unicode text' })
  return { text, problems }
}

function checked(value: string, path: string, max: number, what: string): string {
  const { text, problems } = oneLine(value, path, max, what)
  if (problems.length > 0) throw validationFailed(problems)
  return text
}

/** An account's name as stored: trimmed, one line, at most MAX_ACCOUNT_NAME_CHARS. */
export const checkAccountName = (name: string): string => checked(name, '/name', MAX_ACCOUNT_NAME_CHARS, 'account a name')

/** A suspension's reason as stored: trimmed, one line, at most MAX_SUSPEND_REASON_CHARS. */
export const checkSuspendReason = (reason: string): string =>
  checked(reason, '/reason', MAX_SUSPEND_REASON_CHARS, 'reason for the suspension')
