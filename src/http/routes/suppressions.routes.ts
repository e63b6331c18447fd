import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ErrorObject } from 'ajv'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { csvLine } from '../../lib/csv.js'
import { type ErrorDetail, validationFailed } from '../../lib/errors.js'
import type { SuppressionService } from '../../modules/suppressions/suppression.service.js'
import { MAX_IMPORT_ROWS, type Suppression } from '../../modules/suppressions/suppression.types.js'
import { cursorId, nextCursor, presentSuppression } from '../presenters.js'
import { errors } from '../schemas/common.js'
import {
  AddressParamsSchema,
  AddSuppressionBodySchema,
  ExportCsvSchema,
  ExportJsonSchema,
  ExportQuerySchema,
  ImportCsvBodySchema,
  ImportJsonBodySchema,
  ImportResultSchema,
  ListSuppressionsQuerySchema,
  StreamQuerySchema,
  SuppressionPageSchema,
  SuppressionSchema,
} from '../schemas/suppressions.js'
import { mergeDetails, toDetails } from '../validation.js'

/**
 * Room for MAX_IMPORT_ROWS rows of the longest kind (a 254-character address, a stream, a
 * reason, two timestamps, JSON punctuation, and an exported `source`), with margin. Past it 413.
 */
export const IMPORT_BODY_LIMIT = 8 * 1024 * 1024

const CSV_HEADER = ['address', 'reason', 'stream', 'expires_at', 'created_at']

/** The export as text chunks, one per page of entries, pulled as the response is written. */
async function* exportChunks(first: Suppression[] | undefined, rest: AsyncIterator<Suppression[]>, format: 'csv' | 'json') {
  let page = first
  let started = false
  if (format === 'csv') yield csvLine(CSV_HEADER)
  else yield '{"suppressions":['
  while (page) {
    if (format === 'csv') {
      yield page
        .map((s) => csvLine([s.address, s.reason, s.stream ?? '', s.expiresAt?.toISOString() ?? '', s.createdAt.toISOString()]))
        .join('')
    } else {
      const rows = page.map((s) => JSON.stringify(presentSuppression(s))).join(',')
      yield started ? `,${rows}` : rows
    }
    started = true
    const next = await rest.next()
    page = next.done ? undefined : next.value
  }
  if (format === 'json') yield ']}'
}

/** For routes that attach their validation: the schema's problems and the semantic ones (`problems`) in one 422. */
function throwIfInvalid(request: FastifyRequest, problems: (body: unknown) => ErrorDetail[]): void {
  const failed = request.validationError as (Error & { validation?: ErrorObject[]; validationContext?: string }) | undefined
  if (!failed) return
  const part = failed.validationContext ?? 'body'
  const schemaDetails = toDetails(failed.validation ?? [], part)
  throw validationFailed(part === 'body' ? mergeDetails(schemaDetails, problems(request.body)) : schemaDetails)
}

/** The account's suppression list (full-scope keys: no route here opts into the `send` scope). */
export const suppressionRoutes: FastifyPluginAsyncTypebox<{ suppressions: SuppressionService }> = async (app, { suppressions }) => {
  // CSV imports arrive as text; this parser exists only inside this plugin's routes.
  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT }, (_request, body, done) => done(null, body))

  app.get(
    '/suppressions',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'List the suppression list, newest first',
        description:
          "Expired entries are not listed. `address` is an exact match; `domain` lists every address at a domain (a scan of the account's entries, bounded by `limit`).",
        querystring: ListSuppressionsQuerySchema,
        response: { 200: SuppressionPageSchema, ...errors(401, 403, 422, 429) },
      },
    },
    async (request) => {
      const q = request.query
      const limit = q.limit ?? 20
      const items = await suppressions.list(request.principal.accountId, {
        address: q.address,
        domain: q.domain,
        reason: q.reason,
        stream: q.stream,
        createdAfter: q.created_after ? new Date(q.created_after) : undefined,
        createdBefore: q.created_before ? new Date(q.created_before) : undefined,
        before: cursorId(q.cursor),
        limit,
      })
      return { data: items.map(presentSuppression), next_cursor: nextCursor(items, limit) }
    },
  )

  app.get(
    '/suppressions/export',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'Export the whole suppression list',
        description:
          'Streams every live entry, oldest first, read a page at a time. CSV (default) has the columns address,reason,stream,expires_at,created_at; JSON is {"suppressions":[…]}. Either can be sent back to POST /v1/suppressions/import as it is.',
        querystring: ExportQuerySchema,
        response: {
          200: {
            description: 'The list, as CSV or JSON',
            content: { 'text/csv': { schema: ExportCsvSchema }, 'application/json': { schema: ExportJsonSchema } },
          },
          ...errors(401, 403, 422, 429),
        },
      },
    },
    async (request, reply) => {
      const format = request.query.format ?? 'csv'
      const pages = suppressions.exportAll(request.principal.accountId)[Symbol.asyncIterator]()
      // The first page is read before anything is sent, so a database that is away answers 503
      // rather than a 200 cut short; a failure on a later page ends the response early.
      const first = await pages.next()
      reply
        .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
        .header('content-disposition', `attachment; filename="suppressions.${format}"`)
      // A stream is written as it is read, past the response schema (which documents the formats).
      const stream: unknown = Readable.from(exportChunks(first.done ? undefined : first.value, pages, format))
      return reply.send(stream as string)
    },
  )

  app.get(
    '/suppressions/:address',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'One entry of the suppression list',
        description: 'The entry for the address and `stream`; without `stream`, the account-wide entry. Expired entries answer 404.',
        params: AddressParamsSchema,
        querystring: StreamQuerySchema,
        response: { 200: SuppressionSchema, ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request) =>
      presentSuppression(await suppressions.get(request.principal.accountId, request.params.address, request.query.stream ?? null)),
  )

  app.post(
    '/suppressions',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'Suppress an address by hand',
        description:
          'Adds a `manual` entry (201). An address already on the list answers 200 with its entry (its expiry extended if this one is later, or made permanent when this one has none); an expired entry is renewed (201).',
        body: AddSuppressionBodySchema,
        response: { 200: SuppressionSchema, 201: SuppressionSchema, ...errors(401, 403, 422, 429) },
      },
      // A schema failure is combined with the semantic checks, so one answer lists every bad field.
      attachValidation: true,
    },
    async (request, reply) => {
      throwIfInvalid(request, (body) => suppressions.addProblems(body))
      const { suppression, created } = await suppressions.add(request.principal.accountId, request.body)
      return reply.status(created ? 201 : 200).send(presentSuppression(suppression))
    },
  )

  app.delete(
    '/suppressions/:address',
    {
      schema: {
        tags: ['suppressions'],
        summary: 'Remove an address from the suppression list',
        description: 'Removes the entry for the address and `stream` (without `stream`, the account-wide entry); mail to it is sent again.',
        params: AddressParamsSchema,
        querystring: StreamQuerySchema,
        response: { 204: Type.Null({ description: 'Removed' }), ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request, reply) => {
      await suppressions.remove(request.principal.accountId, request.params.address, request.query.stream ?? null)
      return reply.status(204).send(null)
    },
  )

  app.post(
    '/suppressions/import',
    {
      bodyLimit: IMPORT_BODY_LIMIT,
      // Before the schema check, which lists every error it finds: an array far too long, or items
      // with many unknown fields, would otherwise make millions of them.
      preValidation: async (request) => {
        const list = (request.body as { suppressions?: unknown } | null)?.suppressions
        if (!Array.isArray(list)) return
        if (list.length > MAX_IMPORT_ROWS) {
          throw validationFailed([{ path: '/suppressions', message: `must have at most ${MAX_IMPORT_ROWS} items` }])
        }
        const wide = list.findIndex((item) => item !== null && typeof item === 'object' && Object.keys(item).length > 16)
        if (wide >= 0) throw validationFailed([{ path: `/suppressions/${wide}`, message: 'has too many fields' }])
      },
      // A schema failure is combined with the semantic checks, so one answer lists every bad row.
      attachValidation: true,
      schema: {
        tags: ['suppressions'],
        summary: 'Import many suppressions',
        description: `JSON or CSV, at most ${MAX_IMPORT_ROWS} rows (and ${IMPORT_BODY_LIMIT / 1024 / 1024} MiB) per request. Every row is checked first: any problem answers 422 listing each bad row (JSON: /suppressions/<index>/<field>; CSV: /line/<line>/<column>) and nothing is written, so a corrected retry is safe. Otherwise every row is written at once. Reasons may be any of the four (imports carry bounces and complaints from another provider); an existing entry is merged, never shortened.`,
        body: {
          content: { 'application/json': { schema: ImportJsonBodySchema }, 'text/csv': { schema: ImportCsvBodySchema } },
        },
        response: { 200: ImportResultSchema, ...errors(401, 403, 413, 422, 429) },
      },
    },
    async (request) => {
      const accountId = request.principal.accountId
      const body: unknown = request.body
      // The CSV parser hands over the text as it came; its rows are checked by the service.
      if (typeof body === 'string' && /^text\/csv\b/i.test(request.headers['content-type'] ?? '')) {
        return suppressions.importCsv(accountId, body)
      }
      throwIfInvalid(request, (json) => suppressions.importProblems(json))
      return suppressions.importJson(accountId, body)
    },
  )
}
