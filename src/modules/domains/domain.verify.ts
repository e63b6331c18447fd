import { type Dns, DnsError } from '../../infra/dns.js'
import { publishedKey } from './dkim.keys.js'
import { mxValue } from './domain.records.js'
import type { DnsRecord, RecordStatus } from './domain.types.js'

/**
 * Checks each expected record against what DNS answers and gives a verdict. The rules are
 * pragmatic: SPF passes when the domain's one SPF record contains every mechanism we suggest
 * (owners add their other senders), DKIM when the published key is ours, DMARC when any
 * policy exists, the return path when its MX points at our bounce host.
 */
export type DnsLookups = Pick<Dns, 'txt' | 'mx'>

interface Verdict {
  status: RecordStatus
  seen?: string[]
}

type Answer = { values: string[] } | { error: string }

export async function checkRecords(records: DnsRecord[], dns: DnsLookups): Promise<DnsRecord[]> {
  const answers = new Map<string, Promise<Answer>>()
  const lookup = (type: DnsRecord['type'], name: string): Promise<Answer> => {
    const key = `${type} ${name}`
    let answer = answers.get(key)
    if (!answer) {
      answer = query(dns, type, name)
      answers.set(key, answer)
    }
    return answer
  }
  return Promise.all(
    records.map(async ({ type, name, value, purpose }) => {
      const answer = await lookup(type, name)
      const checked = { type, name, value, purpose }
      if ('error' in answer) return { ...checked, status: 'pending' as const, error: answer.error }
      return { ...checked, ...judge({ type, value, purpose }, answer.values) }
    }),
  )
}

/** A name that does not exist or has no such records answers empty; SERVFAIL and timeouts decide nothing. */
async function query(dns: DnsLookups, type: DnsRecord['type'], name: string): Promise<Answer> {
  try {
    if (type === 'MX') return { values: (await dns.mx(name)).map((mx) => mxValue(mx.exchange.replace(/\.$/, ''), mx.priority)) }
    return { values: await dns.txt(name) }
  } catch (err) {
    if (!(err instanceof DnsError)) throw err
    if (err.kind === 'nxdomain' || err.kind === 'nodata') return { values: [] }
    return { error: `DNS ${err.kind} looking up ${type} ${name}; try again later` }
  }
}

export function judge(record: Pick<DnsRecord, 'type' | 'value' | 'purpose'>, seen: string[]): Verdict {
  if (record.type === 'MX') return mxVerdict(record.value, seen)
  switch (record.purpose) {
    case 'spf':
    case 'return-path':
      return spfVerdict(record.value, seen)
    case 'dkim':
    case 'dkim-ed25519':
      return dkimVerdict(record.value, seen)
    case 'dmarc':
      return seen.some((txt) => /^v\s*=\s*DMARC1\s*(;|$)/i.test(txt.trim())) ? { status: 'found' } : { status: 'missing' }
  }
}

function spfVerdict(expected: string, txt: string[]): Verdict {
  const records = txt.filter((t) => /^v=spf1(\s|$)/i.test(t.trim()))
  if (records.length === 0) return { status: 'missing' }
  // Two SPF records at one name are a permanent error for receivers (RFC 7208 §4.5).
  if (records.length > 1) return { status: 'mismatched', seen: records }
  const published = new Set(mechanisms(records[0] as string))
  return mechanisms(expected).every((m) => published.has(m)) ? { status: 'found' } : { status: 'mismatched', seen: records }
}

/** The mechanisms of an SPF record, lower-cased, without the default `+` qualifier and the `all` term. */
const mechanisms = (spf: string): string[] =>
  spf
    .trim()
    .toLowerCase()
    .split(/\s+/)
    .slice(1)
    .map((term) => term.replace(/^\+/, ''))
    .filter((term) => !/^[~?-]?all$/.test(term))

function dkimVerdict(expected: string, txt: string[]): Verdict {
  if (txt.length === 0) return { status: 'missing' }
  const key = publishedKey(expected)
  return txt.some((t) => publishedKey(t) === key) ? { status: 'found' } : { status: 'mismatched', seen: txt }
}

function mxVerdict(expected: string, mx: string[]): Verdict {
  if (mx.length === 0) return { status: 'missing' }
  const host = (value: string) => (value.split(' ')[1] ?? '').toLowerCase()
  return mx.some((m) => host(m) === host(expected)) ? { status: 'found' } : { status: 'mismatched', seen: mx }
}
