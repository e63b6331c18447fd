/**
 * RFC 4180 CSV, both ways. Hand-written rather than a dependency: the whole grammar is a few
 * dozen lines, and this parser is one pass over the text (quoted runs are found with indexOf,
 * every other character is looked at once), so a hostile file costs time linear in its size.
 * Records end with CRLF, LF or a lone CR; a UTF-8 byte order mark (spreadsheets write one) is
 * skipped; blank lines are skipped. A quoted field may hold commas, quotes (doubled) and line
 * breaks; a quote anywhere else is an error, since guessing what it meant would change the data.
 */
export interface CsvRecord {
  /** The line (1-based) on which the record starts. */
  line: number
  fields: string[]
}

export type CsvResult = { ok: true; records: CsvRecord[] } | { ok: false; line: number; message: string }

const isEnd = (c: string | undefined) => c === undefined || c === ',' || c === '\r' || c === '\n'

/** Parses `text`; more than `maxRecords` records (blank lines not counted) is an error on the first record too many. */
export function parseCsv(text: string, maxRecords = Number.POSITIVE_INFINITY): CsvResult {
  const records: CsvRecord[] = []
  const n = text.length
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  let line = 1
  const fail = (at: number, message: string): CsvResult => ({ ok: false, line: at, message })
  while (i < n) {
    const start = line
    const fields: string[] = []
    for (;;) {
      if (text[i] === '"') {
        let value = ''
        let from = i + 1
        for (;;) {
          const quote = text.indexOf('"', from)
          if (quote === -1) return fail(start, 'a quoted field is not closed (a " is missing)')
          value += text.slice(from, quote)
          if (text[quote + 1] !== '"') {
            i = quote + 1
            break
          }
          value += '"'
          from = quote + 2
        }
        for (let at = value.indexOf('\n'); at !== -1; at = value.indexOf('\n', at + 1)) line++
        if (!isEnd(text[i])) return fail(line, 'a closing quote must be followed by a comma or the end of the line')
        fields.push(value)
      } else {
        let end = i
        while (!isEnd(text[end])) end++
        const value = text.slice(i, end)
        if (value.includes('"')) return fail(line, 'a field holding a quote (") must be enclosed in quotes, with the quote doubled ("")')
        fields.push(value)
        i = end
      }
      if (text[i] !== ',') break
      i++
    }
    if (text[i] === '\r') i++
    if (text[i] === '\n') i++
    line++
    if (fields.length === 1 && fields[0] === '') continue
    if (records.length >= maxRecords) return fail(start, `more than ${maxRecords} records`)
    records.push({ line: start, fields })
  }
  return { ok: true, records }
}

/** One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180). */
export const csvField = (value: string): string => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value)

/** One CSV record with its CRLF. */
export const csvLine = (fields: string[]): string => `${fields.map(csvField).join(',')}\r\n`
