import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { csvLine, parseCsv } from '../../src/lib/csv.js'

const records = (text: string, max?: number) => {
  const result = parseCsv(text, max)
  assert.ok(result.ok, JSON.stringify(result))
  return result.records.map((r) => [r.line, ...r.fields])
}

const failure = (text: string, max?: number) => {
  const result = parseCsv(text, max)
  assert.ok(!result.ok, 'expected a failure')
  return [result.line, result.message]
}

describe('parseCsv (RFC 4180)', () => {
  it('splits records on CRLF, LF or CR, and fields on commas, keeping empty fields', () => {
    assert.deepEqual(records('a,b,c\r\n1,,3\n4,5,\r6,7,8'), [
      [1, 'a', 'b', 'c'],
      [2, '1', '', '3'],
      [3, '4', '5', ''],
      [4, '6', '7', '8'],
    ])
  })

  it('reads quoted fields with commas, doubled quotes and line breaks, counting lines across them', () => {
    assert.deepEqual(records('"a,b","say ""hi""","two\r\nlines"\r\nnext,"",x\r\n'), [
      [1, 'a,b', 'say "hi"', 'two\r\nlines'],
      [3, 'next', '', 'x'],
    ])
  })

  it('skips a byte order mark, blank lines and a missing final line break', () => {
    assert.deepEqual(records('\ufeffaddress\r\n\r\nada@example.com\n\nbob@example.com'), [
      [1, 'address'],
      [3, 'ada@example.com'],
      [5, 'bob@example.com'],
    ])
    assert.deepEqual(records(''), [])
    assert.deepEqual(records('\r\n\n'), [])
  })

  it('refuses an unclosed quote, text after a closing quote and a bare quote, naming the line', () => {
    assert.deepEqual(failure('a\r\n"open,b\r\n'), [2, 'a quoted field is not closed (a " is missing)'])
    assert.deepEqual(failure('a\r\n"x"y,b'), [2, 'a closing quote must be followed by a comma or the end of the line'])
    assert.deepEqual(failure('a\r\nb"c,d'), [2, 'a field holding a quote (") must be enclosed in quotes, with the quote doubled ("")'])
  })

  it('stops at the first record past the limit', () => {
    assert.deepEqual(records('h\n1\n2', 3).length, 3)
    assert.deepEqual(failure('h\n1\n2\n3', 3), [4, 'more than 3 records'])
  })

  it('is linear: a megabyte of quotes or of fields parses at once', () => {
    const started = Date.now()
    assert.equal(records(`"${'""'.repeat(500_000)}"`)[0]?.[1], '"'.repeat(500_000))
    assert.equal(records(','.repeat(1_000_000))[0]?.length, 1_000_002)
    assert.deepEqual(failure(`"${'a'.repeat(1_000_000)}`)[0], 1)
    assert.ok(Date.now() - started < 2_000)
  })

  it('writes what it reads back', () => {
    const fields = ['plain', 'with,comma', 'with "quote"', 'two\r\nlines', '']
    const line = csvLine(fields)
    assert.equal(line, 'plain,"with,comma","with ""quote""","two\r\nlines",\r\n')
    assert.deepEqual(records(line), [[1, ...fields]])
  })
})
