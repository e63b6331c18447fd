// Liquid templates, rendered per recipient: pure, synchronous, no files, bounded in time and memory,
// because both the template and the variables come from the API caller.
import { type FS, Liquid, LiquidError, type Template } from 'liquidjs'
import type { ErrorDetail } from '../../lib/errors.js'

export interface TemplateSource {
  subject: string
  text?: string | null
  html?: string | null
}

export type RenderResult = { ok: true; subject: string; text?: string; html?: string } | { ok: false; details: ErrorDetail[] }

type Part = 'subject' | 'text' | 'html'
const PARTS: readonly Part[] = ['subject', 'text', 'html']

const PARSE_LIMIT = 1_000_000 // characters per part: far above any real email, and still parsed in milliseconds
const RENDER_LIMIT_MS = 500 // per part, shared with the re-renders that look for more missing variables
const MEMORY_LIMIT = 10_000_000 // liquidjs's allocation units (string and array lengths) per render
const OUTPUT_LIMIT = 10_000_000 // characters: liquidjs does not count what it writes out, and a loop writes a lot cheaply
const CACHE_ENTRIES = 500 // one template goes to up to 1,000 recipients per request: parse it once, not per recipient
const CACHE_CHARS = 20_000_000 // parsed trees keep their source alive, so entries alone would not bound the memory
const MISSING_PER_PART = 20

// The include/render/layout tags are refused at parse time below; this is the second lock.
const fail = (): never => {
  throw new Error('templates cannot read files')
}
const noFiles: FS = { exists: async () => false, existsSync: () => false, readFile: fail, readFileSync: fail, resolve: (_d, f) => f }

// strictVariables: a variable the caller forgot must fail the send, not leave a blank in the mail.
const STRICT = { strictVariables: true, strictFilters: true, ownPropertyOnly: true, relativeReference: false } as const
const LIMITS = { parseLimit: PARSE_LIMIT, renderLimit: RENDER_LIMIT_MS, memoryLimit: MEMORY_LIMIT } as const

const engine = (escapes: boolean): Liquid => {
  const liquid = new Liquid({
    ...STRICT,
    ...LIMITS,
    fs: noFiles,
    root: [], // partials and layouts default to root
    lenientIf: true, // `{% if coupon %}`, `{{ nick | default: 'you' }}`: how a template makes a variable optional

    outputEscape: escapes ? 'escape' : undefined,
    timezoneOffset: 0, // the server's zone is an accident of deployment; dates must not change with it
  })
  for (const name of ['include', 'render', 'layout']) {
    liquid.registerTag(name, {
      parse() {
        throw new Error(`{% ${name} %} is not allowed: a template cannot use other templates or files`)
      },
      render: () => '',
    })
  }
  return liquid
}

// Escaping happens at parse time (liquidjs appends the escape filter), so each has its own trees.
const plain = engine(false)
const escaping = engine(true)

const cache = new Map<string, { plain?: Template[]; escaping?: Template[] }>()
let cachedChars = 0

/** For tests: how many sources the parse cache holds. */
export const parseCacheSize = (): number => cache.size

function parsed(source: string, part: Part): Template[] {
  const kind = part === 'html' ? 'escaping' : 'plain'
  const entry = cache.get(source) ?? {}
  const tpl = entry[kind] ?? (part === 'html' ? escaping : plain).parse(source)
  // Deleted and set again: the Map's order is the eviction order, least recently used first.
  if (!cache.delete(source)) cachedChars += source.length
  cache.set(source, { ...entry, [kind]: tpl })
  for (const oldest of cache.keys()) {
    if (cache.size <= CACHE_ENTRIES && cachedChars <= CACHE_CHARS) break
    cache.delete(oldest)
    cachedChars -= oldest.length
  }
  return tpl
}

const present = (s: string | null | undefined): s is string => typeof s === 'string' && s.length > 0

/** liquidjs's messages for its limits (and V8's for the longest string), as said to the caller. */
const LIMITS_HIT = new Map([
  ['parse length limit exceeded', `is too long: more than ${PARSE_LIMIT} characters`],
  ['template render limit exceeded', `took too long to render (over ${RENDER_LIMIT_MS} ms)`],
  ['memory alloc limit exceeded', 'used too much memory to render'],
  ['Invalid string length', 'used too much memory to render'],
])

function problem(part: Part, e: unknown): ErrorDetail {
  if (!(e instanceof Error)) throw e
  const path = `/${part}`
  const inner = LiquidError.is(e) && e.originalError ? e.originalError : e
  const [line, column] = LiquidError.is(e) ? (e.token?.getPosition() ?? []) : []
  const at = line === undefined ? '' : ` at line ${line}, column ${column}`
  const limit = LIMITS_HIT.get(inner.message) ?? (inner instanceof RangeError ? 'is nested too deeply' : undefined)
  if (limit) return { path, message: `The ${part} ${limit}${at}` }
  if (!LiquidError.is(e)) throw e
  const what = e.name === 'RenderError' ? 'could not be rendered' : 'is not a valid template'
  // liquidjs appends ", line:1, col:2" and may quote source with its line breaks; a detail is one line.
  const reason = inner.message.replace(/, line:\d+, col:\d+$/, '').replace(/\s+/g, ' ')
  return { path, message: `The ${part} ${what}${at}: ${reason.slice(0, 200)}` }
}

/** The dotted name liquidjs reports for a variable missing under strictVariables. */
function missingName(e: unknown): string | undefined {
  if (!LiquidError.is(e) || e.name !== 'UndefinedVariableError') return undefined
  const name = (e.originalError as { variableName?: unknown } | undefined)?.variableName
  return typeof name === 'string' ? name : undefined
}

/** A copy of value with null at the path, for a re-render to find the next missing name; undefined if it cannot be placed. */
function withPlaceholder(value: unknown, [key, ...rest]: string[]): unknown {
  if (key === undefined) return null
  if (typeof value !== 'object' || value === null) return undefined
  const inner = withPlaceholder(Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined, rest)
  if (inner === undefined) return undefined
  // defineProperty, never `copy[key] =`: the key may be `__proto__`.
  return Object.defineProperty(Array.isArray(value) ? [...value] : { ...value }, key, { value: inner, enumerable: true, writable: true })
}

const escapePointer = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1')
const pointer = (name: string): string => `/variables/${name.split('.').map(escapePointer).join('/')}`

/** The rendered part, or undefined once a detail or a missing variable has been recorded. */
function renderPart(part: Part, tpl: Template[], variables: Record<string, unknown>, details: ErrorDetail[], missing: Map<string, Part[]>) {
  const started = performance.now()
  // A copy: `{% increment %}` writes into the scope it is given.
  let scope: Record<string, unknown> | undefined = { ...variables }
  for (let found = 0; scope; found++) {
    const left = Math.max(1, RENDER_LIMIT_MS - (performance.now() - started))
    try {
      const out = String((part === 'html' ? escaping : plain).renderSync(tpl, scope, { renderLimit: left }))
      if (found === 0 && out.length > OUTPUT_LIMIT)
        details.push({ path: `/${part}`, message: `The ${part} renders to more than ${OUTPUT_LIMIT} characters` })
      return found === 0 && out.length <= OUTPUT_LIMIT ? out : undefined
    } catch (e) {
      const name = missingName(e)
      // After a placeholder any other failure may be the placeholder's doing: the names found stand alone.
      if (name === undefined) {
        if (found === 0) details.push(problem(part, e))
        return undefined
      }
      const parts = missing.get(name) ?? []
      // Seen again in this part: the dotted name did not locate the key (`a[b]` with a dot in b).
      if (parts.includes(part)) return undefined
      missing.set(name, [...parts, part])
      scope = found + 1 < MISSING_PER_PART ? (withPlaceholder(scope, name.split('.')) as typeof scope) : undefined
    }
  }
}

export function checkTemplate(source: TemplateSource): ErrorDetail[] {
  const details: ErrorDetail[] = []
  if (source.subject.trim() === '') details.push({ path: '/subject', message: 'A template needs a subject' })
  if (!present(source.text) && !present(source.html)) details.push({ path: '/text', message: 'A template needs a text or an html body' })
  for (const part of PARTS) {
    const s = source[part]
    try {
      if (present(s)) parsed(s, part)
    } catch (e) {
      details.push(problem(part, e))
    }
  }
  return details
}

export function renderTemplate(source: TemplateSource, variables: Record<string, unknown>): RenderResult {
  const details = checkTemplate(source)
  if (details.length > 0) return { ok: false, details }
  const missing = new Map<string, Part[]>()
  const out: Partial<Record<Part, string>> = {}
  for (const part of PARTS) {
    const s = source[part]
    if (present(s)) out[part] = renderPart(part, parsed(s, part), variables, details, missing)
  }
  for (const [name, parts] of missing) {
    const where = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0]
    details.push({ path: pointer(name), message: `"${name}" is used by the template's ${where} but was not given` })
  }
  // renderPart gives undefined only after recording why, so with no details every given part is there.
  return details.length > 0 ? { ok: false, details } : { ok: true, subject: '', ...out }
}

export function templateVariables(source: TemplateSource): string[] {
  const names = new Set<string>()
  for (const part of PARTS) {
    const s = source[part]
    try {
      if (present(s)) for (const name of plain.globalVariablesSync(parsed(s, part))) names.add(name)
    } catch {
      // Best effort: a part that does not parse names nothing; checkTemplate says why.
    }
  }
  return [...names].sort()
}
