import {
  errorResponseName,
  errorResponses,
  HEADERS,
  type HeaderName,
  headerRefs,
  IDEMPOTENCY_KEY_DESCRIPTION,
  OPERATOR_SECURITY,
  RATE_LIMIT_HEADERS,
} from './components.js'
import { EXAMPLES, type OperationExamples } from './examples/index.js'
import { OPERATIONS } from './operations.js'
import { exampleFor } from './schema.js'
import {
  type ExampleSet,
  isAccountRoute,
  isOperatorRoute,
  isReference,
  isSuccess,
  type MediaType,
  type OpenApiDocument,
  type Operation,
  operationsOf,
  type Response,
} from './types.js'

const ERROR_SCHEMA_REF = '#/components/schemas/ErrorResponse'

/** The routes that honour an Idempotency-Key: those whose schema declares the header. */
const idempotencyParameter = (operation: Operation) =>
  operation.parameters?.find((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key')

/** A response that is the error envelope and nothing else, as `errors(…)` in the route schemas makes it. */
const isPlainError = (response: Response): boolean => {
  const media = Object.values(response.content ?? {})
  return media.length > 0 && media.every((m) => isReference(m.schema) && m.schema.$ref === ERROR_SCHEMA_REF) && !response.headers
}

/**
 * Gives each media type its written examples; else the route schema's own (which the generator
 * moved to `example`), else one made from its schema. `example` and `examples` exclude each other.
 */
function addExamples(
  content: Record<string, MediaType> | undefined,
  written: Record<string, ExampleSet> | undefined,
  doc: OpenApiDocument,
) {
  for (const [type, media] of Object.entries(content ?? {})) {
    const own = media.example
    delete media.example
    const fallback = (): ExampleSet => ({ example: { value: own !== undefined ? own : exampleFor(media.schema ?? {}, doc) } })
    media.examples = written?.[type] ?? media.examples ?? fallback()
  }
}

function enrichOperation(doc: OpenApiDocument, key: string, path: string, operation: Operation): Operation {
  const entry = OPERATIONS[key]
  const examples: OperationExamples = EXAMPLES[key] ?? {}
  const idempotency = idempotencyParameter(operation)
  if (idempotency && !idempotency.description) idempotency.description = IDEMPOTENCY_KEY_DESCRIPTION

  if (operation.requestBody) addExamples(operation.requestBody.content, examples.request, doc)

  for (const [status, response] of Object.entries(operation.responses)) {
    if (isReference(response)) continue
    const name = isSuccess(status) ? undefined : errorResponseName(path, status)
    if (name && isPlainError(response)) {
      operation.responses[status] = { $ref: `#/components/responses/${name}` }
      continue
    }
    if (isSuccess(status)) {
      const headers: HeaderName[] = [
        ...(isAccountRoute(path) ? RATE_LIMIT_HEADERS : []),
        ...(idempotency ? (['Idempotent-Replayed'] as const) : []),
      ]
      if (headers.length > 0) response.headers = { ...response.headers, ...headerRefs(headers) }
    }
    addExamples(response.content, examples.responses?.[status], doc)
  }

  const { summary, description, ...rest } = operation
  const text = description || entry?.description
  return {
    ...(entry ? { operationId: entry.operationId } : {}),
    ...(summary !== undefined ? { summary } : {}),
    ...(text ? { description: text } : {}),
    ...rest,
    ...(isOperatorRoute(path) ? { security: OPERATOR_SECURITY.map((s) => ({ ...s })) } : {}),
  }
}

/**
 * The document @fastify/swagger generates from the route schemas, completed (its `transformObject`):
 * operationIds and the missing descriptions from the operations table, an example of every request
 * body and response, the response headers (components.headers: the rate limit on the account
 * routes, Retry-After on 429 and 503, Idempotent-Replayed where an Idempotency-Key is honoured),
 * one components.responses entry per error status, and the operator routes' own security scheme.
 * Works on a copy: the generator's objects are left as they were.
 */
export function enrichOpenApi(generated: unknown): OpenApiDocument {
  const doc = JSON.parse(JSON.stringify(generated)) as OpenApiDocument
  doc.components = { ...doc.components, headers: JSON.parse(JSON.stringify(HEADERS)), responses: errorResponses() }
  for (const { key, method, path, operation } of operationsOf(doc)) {
    const item = doc.paths[path] as Record<string, Operation>
    item[method] = enrichOperation(doc, key, path, operation)
  }
  // Examples share objects (one email's events appear in three answers): a JSON copy writes each out in full.
  return JSON.parse(JSON.stringify(doc)) as OpenApiDocument
}
