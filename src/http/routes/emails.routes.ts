import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { ErrorObject } from 'ajv'
import { parseAddress } from '../../lib/address.js'
import { validationFailed } from '../../lib/errors.js'
import type { EmailService } from '../../modules/emails/email.service.js'
import { type EmailStatus, MAX_ATTEMPTS_SHOWN, type RecipientStatus } from '../../modules/emails/email.types.js'
import { requestFingerprint } from '../../modules/emails/idempotency.js'
import { cursorId, nextCursor, presentEmail, presentEvent, presentSummary } from '../presenters.js'
import { errors, IdParamsSchema } from '../schemas/common.js'
import {
  AcceptedSchema,
  BatchAcceptedSchema,
  BatchItemSchema,
  CancelResponseSchema,
  EmailDetailSchema,
  EmailSummarySchema,
  EventSchema,
  IdempotencyHeadersSchema,
  ListEmailsQuerySchema,
  PageQuerySchema,
  page,
  SendBatchBodySchema,
  SendEmailBodySchema,
} from '../schemas/emails.js'
import { mergeDetails, schemaCheck, toDetails } from '../validation.js'

export interface EmailRoutesOptions {
  emails: EmailService
}

export const emailRoutes: FastifyPluginAsyncTypebox<EmailRoutesOptions> = async (app, { emails }) => {
  // Each batch item, defaults merged, gets the schema check a single send gets (with `from` required).
  const checkItem = schemaCheck({ ...BatchItemSchema, required: ['from'] })
  app.post(
    '/emails',
    {
      config: { scope: 'send', admission: true },
      // A schema failure is combined with the semantic checks, so one answer lists every bad field.
      attachValidation: true,
      schema: {
        tags: ['emails'],
        summary: 'Send an email',
        description: 'Answers 202 once the message and its recipients are committed; delivery happens in the background.',
        headers: IdempotencyHeadersSchema,
        body: SendEmailBodySchema,
        response: { 202: AcceptedSchema, ...errors(401, 403, 409, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const failed = request.validationError as (Error & { validation?: ErrorObject[]; validationContext?: string }) | undefined
      if (failed) {
        const part = failed.validationContext ?? 'body'
        const schemaDetails = toDetails(failed.validation ?? [], part)
        throw validationFailed(part === 'body' ? mergeDetails(schemaDetails, emails.problems(request.body)) : schemaDetails)
      }
      const key = request.headers['idempotency-key']
      const idempotency = key ? { key, fingerprint: requestFingerprint('POST', '/v1/emails', request.body) } : undefined
      const result = await emails.submitApi(request.principal, request.body, { idempotency })
      if (result.replayed) reply.header('idempotent-replayed', 'true')
      return reply.status(202).send(result.body)
    },
  )

  app.post(
    '/emails/batch',
    {
      config: { scope: 'send', admission: true },
      schema: {
        tags: ['emails'],
        summary: 'Send up to 1,000 emails in one request',
        description:
          'Items are checked one by one (templates rendered per item) and accepted in one transaction. mode=partial (default) accepts the valid items and lists the others in `errors` with their index; mode=strict accepts nothing unless all are valid (422). Each item may carry its own idempotency_key.',
        headers: IdempotencyHeadersSchema,
        body: SendBatchBodySchema,
        response: { 202: BatchAcceptedSchema, ...errors(401, 403, 409, 413, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key']
      const idempotency = key ? { key, fingerprint: requestFingerprint('POST', '/v1/emails/batch', request.body) } : undefined
      const { answer, replayed } = await emails.submitBatch(request.principal, request.body, { idempotency, checkItem })
      if (replayed) reply.header('idempotent-replayed', 'true')
      return reply.status(202).send(answer)
    },
  )

  app.get(
    '/emails',
    {
      schema: {
        tags: ['emails'],
        summary: 'List emails, newest first',
        querystring: ListEmailsQuerySchema,
        response: { 200: page(EmailSummarySchema), ...errors(401, 403, 422, 429) },
      },
    },
    async (request) => {
      const q = request.query
      const limit = q.limit ?? 20
      const [tagKey, tagValue] = q.tag ? q.tag.split(':') : []
      let recipient: string | undefined
      if (q.recipient !== undefined) {
        const parsed = parseAddress(q.recipient)
        if (!parsed.ok) throw validationFailed([{ path: '/query/recipient', message: parsed.reason }])
        recipient = parsed.mailbox.address
      }
      const rows = await emails.list(request.principal, {
        status: q.status as EmailStatus | undefined,
        recipientStatus: q.recipient_status as RecipientStatus | undefined,
        recipient,
        tag: tagKey && tagValue ? { key: tagKey, value: tagValue } : undefined,
        createdAfter: q.created_after ? new Date(q.created_after) : undefined,
        createdBefore: q.created_before ? new Date(q.created_before) : undefined,
        before: cursorId(q.cursor),
        limit,
      })
      return { data: rows.map(presentSummary), next_cursor: nextCursor(rows, limit) }
    },
  )

  app.get(
    '/emails/:id',
    {
      schema: {
        tags: ['emails'],
        summary: 'Get an email with per-recipient status, attempts and events',
        description: `Attempts: the latest ${MAX_ATTEMPTS_SHOWN} of each recipient (recipients[].attempts_total counts them all). Events: the first 100; page through them all with GET /v1/emails/{id}/events.`,
        params: IdParamsSchema,
        response: { 200: EmailDetailSchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (request) => {
      const { email, events } = await emails.get(request.principal, request.params.id)
      return presentEmail(email, events)
    },
  )

  app.get(
    '/emails/:id/events',
    {
      schema: {
        tags: ['emails'],
        summary: "An email's events, oldest first",
        params: IdParamsSchema,
        querystring: PageQuerySchema,
        response: { 200: page(EventSchema), ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20
      const rows = await emails.events(request.principal, request.params.id, cursorId(request.query.cursor), limit)
      return { data: rows.map(presentEvent), next_cursor: nextCursor(rows, limit) }
    },
  )

  app.post(
    '/emails/:id/cancel',
    {
      schema: {
        tags: ['emails'],
        summary: 'Cancel the recipients not yet being sent',
        params: IdParamsSchema,
        response: { 200: CancelResponseSchema, ...errors(401, 403, 404, 409, 429) },
      },
    },
    async (request) => emails.cancel(request.principal, request.params.id),
  )
}
