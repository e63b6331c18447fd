/** The parts of an OpenAPI 3.1 document that the enrichment reads and writes. */

export type JsonSchema = Record<string, unknown>

export interface NamedExample {
  summary?: string
  description?: string
  value: unknown
}

/** Examples keyed by name, as an OpenAPI media type object holds them. */
export type ExampleSet = Record<string, NamedExample>

export interface MediaType {
  schema?: JsonSchema
  examples?: ExampleSet
  example?: unknown
}

export interface Reference {
  $ref: string
}

export interface Response {
  description?: string
  headers?: Record<string, Reference | Record<string, unknown>>
  content?: Record<string, MediaType>
}

export interface Parameter {
  name: string
  in: string
  required?: boolean
  description?: string
  schema?: JsonSchema
}

export interface Operation {
  operationId?: string
  summary?: string
  description?: string
  tags?: string[]
  security?: Array<Record<string, string[]>>
  parameters?: Parameter[]
  requestBody?: { required?: boolean; content?: Record<string, MediaType> }
  responses: Record<string, Response | Reference>
}

export interface OpenApiDocument {
  openapi: string
  info?: Record<string, unknown>
  components?: {
    securitySchemes?: Record<string, unknown>
    schemas?: Record<string, JsonSchema>
    headers?: Record<string, unknown>
    responses?: Record<string, Response>
  }
  security?: Array<Record<string, string[]>>
  tags?: Array<{ name: string; description?: string }>
  paths: Record<string, Record<string, Operation>>
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const

/** "METHOD /path", as the operations table keys an operation (`POST /v1/emails`, `GET /v1/emails/{id}`). */
export const operationKey = (method: string, path: string): string => `${method.toUpperCase()} ${path}`

/** Every operation of the document, in document order. */
export function operationsOf(doc: OpenApiDocument): Array<{ key: string; method: string; path: string; operation: Operation }> {
  const found: Array<{ key: string; method: string; path: string; operation: Operation }> = []
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method]
      if (operation) found.push({ key: operationKey(method, path), method, path, operation })
    }
  }
  return found
}

export const isReference = (value: unknown): value is Reference =>
  typeof value === 'object' && value !== null && typeof (value as Reference).$ref === 'string'

/** Success statuses: 1xx-3xx (and `default` is never one). */
export const isSuccess = (status: string): boolean => /^[123][0-9][0-9]$/.test(status)

/** The routes of an account's API keys: under /v1, outside the operator API. */
export const isAccountRoute = (path: string): boolean => path.startsWith('/v1/') && !isOperatorRoute(path)

/** The operator API, authenticated with OPERATOR_TOKEN. */
export const isOperatorRoute = (path: string): boolean => path === '/v1/operator' || path.startsWith('/v1/operator/')
