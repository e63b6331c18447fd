import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { before, describe, it } from 'node:test'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { openApiDocument } from '../../scripts/openapi-render.js'
import { HEADERS } from '../../src/http/openapi/components.js'
import { duplicateExampleKeys, EXAMPLES } from '../../src/http/openapi/examples/index.js'
import { OPERATIONS } from '../../src/http/openapi/operations.js'
import { EXAMPLE_VALUES, exampleFor, resolveRefs } from '../../src/http/openapi/schema.js'
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
} from '../../src/http/openapi/types.js'
import { STATUS_BY_CODE } from '../../src/http/plugins/error-handler.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/** Error responses that are not the error envelope: readiness answers its own shape when down. */
const NOT_ENVELOPES = new Set(['GET /readyz 503'])
const IDEMPOTENT = ['POST /v1/emails', 'POST /v1/emails/batch']
const RATE_LIMIT = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']

const headerNames = (response: Response): string[] => Object.keys(response.headers ?? {})

describe('the OpenAPI document', () => {
  let doc: OpenApiDocument
  let ops: ReturnType<typeof operationsOf>
  const response = (ref: Response | { $ref: string }): Response =>
    isReference(ref) ? (doc.components?.responses?.[ref.$ref.replace('#/components/responses/', '')] as Response) : ref

  before(async () => {
    doc = await openApiDocument()
    ops = operationsOf(doc)
  })

  it('has every operation in the operations table, and nothing else there', () => {
    const inDoc = ops.map((o) => o.key).sort()
    assert.ok(inDoc.length > 50, `only ${inDoc.length} operations`)
    const missing = inDoc.filter((key) => !(key in OPERATIONS))
    const extra = Object.keys(OPERATIONS).filter((key) => !inDoc.includes(key))
    assert.deepEqual(missing, [], 'routes missing from src/http/openapi/operations.ts')
    assert.deepEqual(extra, [], 'entries of src/http/openapi/operations.ts without a route')
  })

  it('gives every operation a unique camelCase operationId (operator routes: operator…)', () => {
    const ids = ops.map((o) => o.operation.operationId)
    for (const { key, path, operation } of ops) {
      assert.equal(operation.operationId, OPERATIONS[key]?.operationId, key)
      assert.match(operation.operationId ?? '', /^[a-z][a-zA-Z0-9]*$/, key)
      assert.equal(operation.operationId?.startsWith('operator'), isOperatorRoute(path), key)
    }
    assert.equal(new Set(ids).size, ids.length, 'operationIds repeat')
  })

  it('describes every operation, from the table only where the route has no description', () => {
    for (const { key, operation } of ops) {
      assert.ok((operation.description ?? '').trim().length > 20, `${key} has no description`)
      const written = OPERATIONS[key]?.description
      if (written) assert.equal(operation.description, written, `${key} has a description of its own: drop the table's`)
    }
  })

  it('lists and describes every tag the operations use', () => {
    const listed = new Map((doc.tags ?? []).map((t) => [t.name, t.description ?? '']))
    const used = new Set(ops.flatMap((o) => o.operation.tags ?? []))
    for (const tag of used) assert.ok(listed.get(tag), `tag ${tag} is not listed with a description`)
    for (const tag of listed.keys()) assert.ok(used.has(tag), `tag ${tag} is listed but no operation uses it`)
    for (const { key, operation } of ops) assert.ok((operation.tags ?? []).length > 0, `${key} has no tag`)
  })

  it('authenticates the operator routes with OPERATOR_TOKEN and the rest with the API-key default', () => {
    assert.deepEqual(doc.security, [{ bearer: [] }])
    const schemes = doc.components?.securitySchemes as Record<string, { scheme: string; description: string }>
    assert.equal(schemes.bearer?.scheme, 'bearer')
    assert.equal(schemes.operatorToken?.scheme, 'bearer')
    assert.match(schemes.operatorToken?.description ?? '', /OPERATOR_TOKEN/)
    for (const { key, path, operation } of ops) {
      if (isOperatorRoute(path)) assert.deepEqual(operation.security, [{ operatorToken: [] }], key)
      else assert.ok(!JSON.stringify(operation.security ?? []).includes('operatorToken'), key)
    }
  })

  it('has an example of every request body and of every success response', () => {
    for (const { key, operation } of ops) {
      for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
        assert.ok(Object.keys(media.examples ?? {}).length > 0, `${key} request ${type} has no example`)
      }
      const success = Object.entries(operation.responses).filter(([status]) => isSuccess(status))
      assert.ok(success.length > 0, `${key} has no success response`)
      for (const [status, ref] of success) {
        for (const [type, media] of Object.entries(response(ref).content ?? {})) {
          assert.ok(Object.keys(media.examples ?? {}).length > 0, `${key} ${status} ${type} has no example`)
        }
      }
    }
  })

  it('has every example valid against its schema', () => {
    const ajv = addFormats(new Ajv({ allErrors: true, strict: false }))
    const check = (where: string, media: MediaType) => {
      const validate = ajv.compile(resolveRefs(media.schema ?? {}, doc) as object)
      for (const [name, example] of Object.entries(media.examples ?? {})) {
        assert.ok(validate(example.value), `${where} example "${name}": ${ajv.errorsText(validate.errors)}`)
      }
    }
    let checked = 0
    for (const { key, operation } of ops) {
      for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) check(`${key} request ${type}`, media)
      for (const [status, ref] of Object.entries(operation.responses)) {
        if (isReference(ref)) continue
        for (const [type, media] of Object.entries(ref.content ?? {})) {
          check(`${key} ${status} ${type}`, media)
          checked++
        }
      }
    }
    for (const [name, res] of Object.entries(doc.components?.responses ?? {})) {
      for (const [type, media] of Object.entries(res.content ?? {})) check(`components.responses.${name} ${type}`, media)
    }
    for (const [name, header] of Object.entries(doc.components?.headers ?? {}) as Array<[string, { schema: object; example: unknown }]>) {
      assert.ok(ajv.validate(header.schema, header.example), `components.headers.${name}: ${ajv.errorsText(ajv.errors)}`)
    }
    assert.ok(checked > 50, `only ${checked} responses checked`)
  })

  it('documents the rate-limit headers on every success response of the account routes, and only there', () => {
    // @fastify/rate-limit sends the draft-spec names (RateLimit-*) only with enableDraftSpec; x-ratelimit-* otherwise.
    assert.match(readFileSync(new URL('../../src/http/plugins/rate-limit.ts', import.meta.url), 'utf8'), /enableDraftSpec: true/)
    for (const { key, path, operation } of ops) {
      for (const [status, ref] of Object.entries(operation.responses)) {
        if (!isSuccess(status)) continue
        const names = headerNames(response(ref))
        for (const header of RATE_LIMIT) assert.equal(names.includes(header), isAccountRoute(path), `${key} ${status} ${header}`)
      }
    }
  })

  it('documents Retry-After on every 429 and 503, and Idempotent-Replayed where an Idempotency-Key is honoured', () => {
    for (const { key, operation } of ops) {
      for (const [status, ref] of Object.entries(operation.responses)) {
        if ((status === '429' || status === '503') && !NOT_ENVELOPES.has(`${key} ${status}`)) {
          assert.ok(headerNames(response(ref)).includes('Retry-After'), `${key} ${status} without Retry-After`)
        }
      }
      const parameter = operation.parameters?.find((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key')
      assert.equal(!!parameter, IDEMPOTENT.includes(key), `${key}: Idempotency-Key`)
      if (parameter) assert.ok(parameter.description, `${key}: the Idempotency-Key parameter has no description`)
      for (const [status, ref] of Object.entries(operation.responses)) {
        if (isSuccess(status)) assert.equal(headerNames(response(ref)).includes('Idempotent-Replayed'), !!parameter, `${key} ${status}`)
      }
    }
    for (const res of Object.values(doc.components?.responses ?? {})) {
      for (const ref of Object.values(res.headers ?? {}) as Array<{ $ref: string }>) {
        assert.ok(ref.$ref.replace('#/components/headers/', '') in HEADERS, ref.$ref)
      }
    }
  })

  it('answers every error by a $ref to components.responses, each with the envelope and its stable codes', () => {
    for (const { key, operation } of ops) {
      for (const [status, ref] of Object.entries(operation.responses)) {
        if (isSuccess(status) || NOT_ENVELOPES.has(`${key} ${status}`)) continue
        assert.ok(isReference(ref) && ref.$ref.startsWith('#/components/responses/'), `${key} ${status} is not a $ref`)
        assert.ok(response(ref), `${key} ${status}: ${ref.$ref} does not exist`)
      }
    }
    const codesByStatus = new Map<string, Set<string>>()
    for (const [name, res] of Object.entries(doc.components?.responses ?? {})) {
      const status = ops
        .flatMap((o) => Object.entries(o.operation.responses))
        .find(([, ref]) => isReference(ref) && ref.$ref === `#/components/responses/${name}`)?.[0]
      assert.ok(status, `components.responses.${name} is used by no operation`)
      assert.ok((res.description ?? '').length > 20, `components.responses.${name} has no description`)
      const media = res.content?.['application/json'] as MediaType
      assert.deepEqual(media.schema, { $ref: '#/components/schemas/ErrorResponse' }, name)
      for (const example of Object.values(media.examples as ExampleSet)) {
        const code = (example.value as { error: { code: keyof typeof STATUS_BY_CODE } }).error.code
        assert.equal(String(STATUS_BY_CODE[code]), status, `${name}: ${code} is not a ${status}`)
        codesByStatus.set(status, new Set([...(codesByStatus.get(status) ?? []), code]))
      }
    }
    assert.deepEqual([...(codesByStatus.get('403') ?? [])].sort(), ['account_suspended', 'forbidden'])
    assert.ok(codesByStatus.get('422')?.has('validation_failed'))
    const validation = doc.components?.responses?.ValidationFailed?.content?.['application/json']?.examples?.validation_failed
    const details = (validation?.value as { error?: { details?: unknown[] } } | undefined)?.error?.details ?? []
    assert.ok(details.length > 0, '422 example without details')
  })

  it('has written examples only for operations, statuses and media types that exist', () => {
    assert.deepEqual(duplicateExampleKeys(), [])
    const byKey = new Map<string, Operation>(ops.map((o) => [o.key, o.operation]))
    for (const [key, written] of Object.entries(EXAMPLES)) {
      const operation = byKey.get(key)
      assert.ok(operation, `examples for ${key}, which is not an operation`)
      for (const type of Object.keys(written.request ?? {})) assert.ok(operation.requestBody?.content?.[type], `${key} request ${type}`)
      for (const [status, media] of Object.entries(written.responses ?? {})) {
        const res = operation.responses[status]
        assert.ok(res && !isReference(res), `${key} has no inline ${status} response`)
        for (const type of Object.keys(media)) assert.ok(res.content?.[type], `${key} ${status} ${type}`)
      }
    }
  })
})

describe('examples made from a schema', () => {
  const doc = { components: { schemas: { Id: { type: 'string', format: 'uuid' } } } }

  it('uses fixed values by format, the first literal of an enum or union, and minimums', () => {
    assert.equal(exampleFor({ type: 'string', format: 'date-time' }, doc), EXAMPLE_VALUES.dateTime)
    assert.equal(exampleFor({ type: 'string', format: 'email' }, doc), 'ada@example.com')
    assert.equal(exampleFor({ $ref: '#/components/schemas/Id' }, doc), EXAMPLE_VALUES.uuid)
    assert.equal(exampleFor({ enum: ['partial', 'strict'] }, doc), 'partial')
    assert.equal(exampleFor({ anyOf: [{ const: 'hour' }, { const: 'day' }] }, doc), 'hour')
    assert.equal(exampleFor({ anyOf: [{ type: 'integer', minimum: 5 }, { type: 'null' }] }, doc), 5)
    assert.equal(exampleFor({ type: 'integer' }, doc), 1)
    assert.equal(exampleFor({ type: 'integer', default: 20 }, doc), 20)
    assert.equal(exampleFor({ type: 'string', examples: ['Ada <ada@example.com>'] }, doc), 'Ada <ada@example.com>')
    assert.equal(exampleFor({ type: 'string', minLength: 8 }, doc), 'stringxx')
  })

  it('gives objects their required properties and arrays one item', () => {
    const schema = {
      type: 'object',
      required: ['id', 'tags', 'recipients'],
      properties: {
        id: { type: 'string' },
        note: { type: 'string' },
        tags: { type: 'object', additionalProperties: { type: 'string' } },
        recipients: { type: 'array', items: { type: 'string' } },
      },
    }
    assert.deepEqual(exampleFor(schema, doc), { id: EXAMPLE_VALUES.uuid, tags: {}, recipients: ['ada@example.com'] })
  })
})
