import { Ajv, type ErrorObject } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'
import type { ErrorDetail } from '../lib/errors.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/**
 * Bodies are validated strictly: no type coercion and unknown fields refused (never silently
 * dropped), with every error reported. Query strings and params are coerced, since there every
 * value arrives as text.
 */
function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, coerceTypes: coerce ? 'array' : false, removeAdditional: false, useDefaults: true, strict: false })
  addFormats(ajv)
  return ajv
}

const strict = makeAjv(false)
const coercing = makeAjv(true)

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : coercing).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>

/** A check of one object against a JSON Schema (a batch's items), as details from its root. */
export function schemaCheck(schema: object): (value: unknown) => ErrorDetail[] {
  const validate = strict.compile(schema)
  return (value) => (validate(value) ? [] : toDetails(validate.errors ?? [], 'body'))
}

// Body fields are addressed from the body's root (`/to/0`); other parts get a prefix.
const PART_PREFIX: Record<string, string> = { body: '', querystring: '/query', params: '/params', headers: '/headers' }

/** Details from the semantic checks that the schema check did not already report for that field. */
export function mergeDetails(schema: ErrorDetail[], semantic: ErrorDetail[]): ErrorDetail[] {
  const reported = new Set(schema.map((s) => s.path))
  // A semantic detail is dropped when its path or one of its parents was reported: a walk up the
  // path per detail (its depth), not a comparison with every schema detail.
  const covered = (path: string): boolean => {
    for (let p = path; ; p = p.slice(0, p.lastIndexOf('/'))) {
      if (reported.has(p)) return true
      if (p === '') return false
    }
  }
  return [...schema, ...semantic.filter((d) => !covered(d.path))]
}

/** Turns Ajv errors into one detail per field, with messages that say what to send instead. */
export function toDetails(errors: ErrorObject[], part: string): ErrorDetail[] {
  const byPath = new Map<string, ErrorObject[]>()
  for (const err of errors) {
    const path =
      err.keyword === 'required'
        ? `${err.instancePath}/${(err.params as { missingProperty: string }).missingProperty}`
        : err.keyword === 'additionalProperties'
          ? `${err.instancePath}/${(err.params as { additionalProperty: string }).additionalProperty}`
          : err.instancePath
    const key = `${PART_PREFIX[part] ?? ''}${path}`
    byPath.set(key, [...(byPath.get(key) ?? []), err])
  }
  return [...byPath].map(([path, errs]) => ({ path, message: describe(errs) }))
}

function describe(errs: ErrorObject[]): string {
  const first = errs[0] as ErrorObject
  if (errs.some((e) => e.keyword === 'anyOf')) {
    // A value of a right type that breaks a bound of its branch (an array too long) says that,
    // rather than listing the types it could have had.
    const bound = errs.find((e) => !['anyOf', 'type'].includes(e.keyword))
    if (bound) return describe([bound])
    const types = [...new Set(errs.filter((e) => e.keyword === 'type').map((e) => (e.params as { type: string }).type))]
    return types.length > 0 ? `must be ${types.map(article).join(' or ')}` : 'has an unsupported shape'
  }
  switch (first.keyword) {
    case 'required':
      return 'is required'
    case 'additionalProperties':
      return 'is not a known field; check the spelling against the API reference'
    case 'type':
      return `must be ${article((first.params as { type: string }).type)}`
    case 'enum':
      return `must be one of ${(first.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
    case 'const':
      return `must be ${JSON.stringify((first.params as { allowedValue: unknown }).allowedValue)}`
    case 'maxItems':
      return `must have at most ${(first.params as { limit: number }).limit} items`
    case 'maxLength':
      return `must be at most ${(first.params as { limit: number }).limit} characters`
    default:
      return first.message ?? 'is invalid'
  }
}

const article = (type: string): string => ({ array: 'an array', object: 'an object', integer: 'an integer' })[type] ?? `a ${type}`
