import type { JsonSchema, OpenApiDocument } from './types.js'

/** The fixed values generated examples use, so that the document is the same at every build. */
export const EXAMPLE_VALUES = {
  dateTime: '2026-12-01T09:30:00.000Z',
  date: '2026-12-01',
  uuid: '01a230f0-89c0-7c3e-8f41-2b6d0a9c7e15',
  email: 'ada@example.com',
  uri: 'https://example.com',
  hostname: 'example.com',
  ipv4: '192.0.2.10',
  ipv6: '2001:db8::10',
} as const

const FORMATS: Record<string, string> = {
  'date-time': EXAMPLE_VALUES.dateTime,
  date: EXAMPLE_VALUES.date,
  time: '09:30:00Z',
  uuid: EXAMPLE_VALUES.uuid,
  email: EXAMPLE_VALUES.email,
  'idn-email': EXAMPLE_VALUES.email,
  uri: EXAMPLE_VALUES.uri,
  url: EXAMPLE_VALUES.uri,
  hostname: EXAMPLE_VALUES.hostname,
  ipv4: EXAMPLE_VALUES.ipv4,
  ipv6: EXAMPLE_VALUES.ipv6,
}

/** A plain string named like an id, an address or a URL gets a value of that kind. */
function stringFor(name: string | undefined): string {
  if (name === undefined) return 'string'
  if (name === 'id' || name.endsWith('_id')) return EXAMPLE_VALUES.uuid
  if (/(^|_)(address|recipient|email|from|to)$/.test(name)) return EXAMPLE_VALUES.email
  if (name === 'url' || name.endsWith('_url')) return 'https://app.example.com/hooks/hikyaku'
  if (name === 'domain' || name.endsWith('_domain') || name.endsWith('_host')) return EXAMPLE_VALUES.hostname
  if (name === 'name') return 'Example'
  return 'string'
}

const isObject = (value: unknown): value is JsonSchema => typeof value === 'object' && value !== null && !Array.isArray(value)

/** What a local `$ref` (`#/components/schemas/ErrorResponse`) points at in the document. */
export function lookup(doc: Pick<OpenApiDocument, 'components'>, ref: string): JsonSchema {
  if (!ref.startsWith('#/')) throw new Error(`only local references are resolved, not ${ref}`)
  let node: unknown = doc
  for (const part of ref.slice(2).split('/')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~')
    node = isObject(node) ? node[key] : undefined
  }
  if (!isObject(node)) throw new Error(`${ref} does not name a schema of the document`)
  return node
}

/** A copy of the schema with every local `$ref` replaced by what it names (a schema validator needs nothing else). */
export function resolveRefs(schema: unknown, doc: Pick<OpenApiDocument, 'components'>, depth = 0): unknown {
  if (depth > 64) throw new Error('a schema nests deeper than 64 levels (a recursive reference?)')
  if (Array.isArray(schema)) return schema.map((item) => resolveRefs(item, doc, depth + 1))
  if (!isObject(schema)) return schema
  if (typeof schema.$ref === 'string') {
    const { $ref, ...siblings } = schema
    return { ...(resolveRefs(lookup(doc, $ref), doc, depth + 1) as JsonSchema), ...siblings }
  }
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, resolveRefs(value, doc, depth + 1)]))
}

const clone = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T))

function numberFor(schema: JsonSchema): number {
  const min = typeof schema.minimum === 'number' ? schema.minimum : undefined
  const exclusiveMin = typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : undefined
  const max = typeof schema.maximum === 'number' ? schema.maximum : undefined
  const value = min ?? exclusiveMin ?? 1
  return max !== undefined && value > max ? max : value
}

function sized(text: string, schema: JsonSchema): string {
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : Number.POSITIVE_INFINITY
  const padded = text.length < min ? text.padEnd(min, 'x') : text
  return padded.length > max ? padded.slice(0, max) : padded
}

/**
 * A value that the schema accepts, made the same way every time: a schema's own `examples`,
 * `default`, `const` or first `enum` value when it has one; the first branch of a union; strings
 * by format (or, when plain, by the property's name); numbers at their minimum or 1; arrays with
 * one item; objects with their required properties.
 */
export function exampleFor(schema: unknown, doc: Pick<OpenApiDocument, 'components'>, name?: string, depth = 0): unknown {
  if (depth > 32) return null
  if (!isObject(schema)) return null
  const s = typeof schema.$ref === 'string' ? { ...lookup(doc, schema.$ref), ...schema, $ref: undefined } : schema
  if (Array.isArray(s.examples) && s.examples.length > 0) return clone(s.examples[0])
  if ('example' in s && s.example !== undefined) return clone(s.example)
  if ('default' in s && s.default !== undefined) return clone(s.default)
  if ('const' in s) return clone(s.const)
  if (Array.isArray(s.enum) && s.enum.length > 0) return clone(s.enum[0])
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = s[key]
    if (Array.isArray(branches) && branches.length > 0) return exampleFor(branches[0], doc, name, depth + 1)
  }
  if (Array.isArray(s.allOf)) {
    const parts = s.allOf.map((part) => exampleFor(part, doc, name, depth + 1))
    return parts.every(isObject) ? Object.assign({}, ...parts) : parts[0]
  }
  const type = Array.isArray(s.type) ? (s.type.find((t) => t !== 'null') ?? s.type[0]) : s.type
  switch (type ?? (isObject(s.properties) ? 'object' : undefined)) {
    case 'string':
      return sized((typeof s.format === 'string' ? FORMATS[s.format] : undefined) ?? stringFor(name), s)
    case 'integer':
    case 'number':
      return numberFor(s)
    case 'boolean':
      return false
    case 'null':
      return null
    case 'array': {
      const count = typeof s.maxItems === 'number' && s.maxItems < 1 ? 0 : Math.max(1, typeof s.minItems === 'number' ? s.minItems : 1)
      return Array.from({ length: count }, () => exampleFor(s.items ?? {}, doc, singular(name), depth + 1))
    }
    case 'object': {
      const properties = isObject(s.properties) ? s.properties : {}
      const required = Array.isArray(s.required) ? (s.required as string[]) : []
      return Object.fromEntries(required.map((key) => [key, exampleFor(properties[key] ?? {}, doc, key, depth + 1)]))
    }
    default:
      return null
  }
}

/** `recipients` → `recipient`, so that an array's items are named as one of them. */
const singular = (name: string | undefined): string | undefined =>
  name?.endsWith('sses') ? name.slice(0, -2) : name?.endsWith('s') ? name.slice(0, -1) : name
