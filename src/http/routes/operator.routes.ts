import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { StoredAccount } from '../../modules/accounts/account.repository.js'
import type { AccountService } from '../../modules/accounts/account.service.js'
import { cursorId, iso, nextCursor, presentApiKey } from '../presenters.js'
import { CreatedApiKeySchema } from '../schemas/api-keys.js'
import { errors, IdParamsSchema } from '../schemas/common.js'
import {
  ACCOUNTS_PAGE_DEFAULT,
  AccountPageSchema,
  AccountQuotasSchema,
  CreateAccountBodySchema,
  CreatedAccountSchema,
  ListAccountsQuerySchema,
  OperatorAccountSchema,
  OperatorCreateKeyBodySchema,
  QuotaParamsSchema,
  RetentionBodySchema,
  SetQuotaBodySchema,
  SuspendBodySchema,
} from '../schemas/operator.js'

/** Operator bodies are a name, a reason or two numbers: nothing near the limit mail needs. */
const OPERATOR_BODY_LIMIT = 16 * 1024

const TAGS = ['operator']
const AUTH =
  'Operator only: `Authorization: Bearer <OPERATOR_TOKEN>`; API keys are refused. 404 on every route while OPERATOR_TOKEN is unset.'

export const presentOperatorAccount = (a: StoredAccount) => ({
  id: a.id,
  name: a.name,
  created_at: a.createdAt.toISOString(),
  suspended: a.suspendedAt !== null,
  suspended_at: iso(a.suspendedAt),
  suspended_reason: a.suspendedReason,
  quotas: a.quotas,
  retention: { body_days: a.retention.bodyDays, metadata_days: a.retention.metadataDays },
})

/**
 * The operator API (/v1/operator): accounts created, listed, suspended and given quotas and keys,
 * across tenants. Registered in a scope of its own whose only credential is OPERATOR_TOKEN
 * (plugins/operator-auth.ts). Every change is logged with the account it touched.
 */
export const operatorRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountService }> = async (app, { accounts }) => {
  app.addHook('onRoute', (route) => {
    route.bodyLimit ??= OPERATOR_BODY_LIMIT
  })

  app.post(
    '/accounts',
    {
      schema: {
        tags: TAGS,
        summary: 'Create an account; its first full-access API key is in this response only',
        description: AUTH,
        body: CreateAccountBodySchema,
        response: { 201: CreatedAccountSchema, ...errors(401, 404, 422, 429) },
      },
    },
    async (request, reply) => {
      const created = await accounts.create(request.body.name)
      request.log.info({ accountId: created.account.id }, 'operator: account created')
      return reply
        .status(201)
        .send({ account: presentOperatorAccount(created.account), key: created.key, api_key: presentApiKey(created.apiKey) })
    },
  )

  app.get(
    '/accounts',
    {
      schema: {
        tags: TAGS,
        summary: 'List accounts, newest first; q finds part of a name in any case',
        description: `${AUTH} Pages hold ${ACCOUNTS_PAGE_DEFAULT} accounts unless limit says otherwise.`,
        querystring: ListAccountsQuerySchema,
        response: { 200: AccountPageSchema, ...errors(401, 404, 422, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? ACCOUNTS_PAGE_DEFAULT
      const page = await accounts.list({ limit, before: cursorId(request.query.cursor), q: request.query.q })
      return { data: page.map(presentOperatorAccount), next_cursor: nextCursor(page, limit) }
    },
  )

  app.get(
    '/accounts/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'One account',
        description: AUTH,
        params: IdParamsSchema,
        response: { 200: OperatorAccountSchema, ...errors(401, 404, 422, 429) },
      },
    },
    async (request) => presentOperatorAccount(await accounts.get(request.params.id)),
  )

  app.post(
    '/accounts/:id/suspend',
    {
      schema: {
        tags: TAGS,
        summary: 'Suspend an account: its keys get 403 account_suspended and its queued mail is held (idempotent)',
        description: `${AUTH} Over HTTP and SMTP alike, from the keys' next request. Held mail still expires at MAX_DELIVERY_AGE. Suspending again keeps the first time and takes the new reason.`,
        params: IdParamsSchema,
        body: SuspendBodySchema,
        response: { 200: OperatorAccountSchema, ...errors(401, 404, 422, 429) },
      },
    },
    async (request) => {
      const account = await accounts.suspend(request.params.id, request.body.reason)
      request.log.info({ accountId: account.id }, 'operator: account suspended')
      return presentOperatorAccount(account)
    },
  )

  app.put(
    '/accounts/:id/retention',
    {
      schema: {
        tags: TAGS,
        summary: "Set how long the account's ended mail is kept",
        description: `${AUTH} Bodies and attachments go after body_days, the rest (recipients, attempts, events) after metadata_days; null restores the deployment's default. Statistics and suppressions are kept.`,
        params: IdParamsSchema,
        body: RetentionBodySchema,
        response: { 200: OperatorAccountSchema, ...errors(401, 404, 422, 429) },
      },
    },
    async (request) => {
      const account = await accounts.setRetention(request.params.id, {
        bodyDays: request.body.body_days,
        metadataDays: request.body.metadata_days,
      })
      request.log.info({ accountId: account.id, retention: account.retention }, 'operator: retention set')
      return presentOperatorAccount(account)
    },
  )

  app.post(
    '/accounts/:id/unsuspend',
    {
      schema: {
        tags: TAGS,
        summary: 'Lift a suspension: the keys work again and held mail goes out (idempotent)',
        description: `${AUTH} Held mail is picked up by the next sweeps (SWEEP_INTERVAL).`,
        params: IdParamsSchema,
        response: { 200: OperatorAccountSchema, ...errors(401, 404, 422, 429) },
      },
    },
    async (request) => {
      const account = await accounts.unsuspend(request.params.id)
      request.log.info({ accountId: account.id }, 'operator: account unsuspended')
      return presentOperatorAccount(account)
    },
  )

  app.put(
    '/accounts/:id/quotas/:stream',
    {
      schema: {
        tags: TAGS,
        summary: "Set the account's quota for a stream (recipients per UTC day and/or month)",
        description: `${AUTH} Replaces the account's quota for that stream: a limit left out is no limit. While it is set, the stream's default (STREAMS) does not apply to the account. Over it, sends get 429 rate_limited.`,
        params: QuotaParamsSchema,
        body: SetQuotaBodySchema,
        response: { 200: AccountQuotasSchema, ...errors(401, 404, 422, 429) },
      },
    },
    async (request) => {
      const { id, stream } = request.params
      const { day, month } = request.body
      const quotas = await accounts.setQuota(id, stream, { day, month }, { replace: true })
      request.log.info({ accountId: id, stream, day, month }, 'operator: quota set')
      return { account_id: id, quotas }
    },
  )

  app.delete(
    '/accounts/:id/quotas/:stream',
    {
      schema: {
        tags: TAGS,
        summary: "Clear the account's quota for a stream: the stream's default (STREAMS) applies again",
        description: AUTH,
        params: QuotaParamsSchema,
        response: { 200: AccountQuotasSchema, ...errors(401, 404, 422, 429) },
      },
    },
    async (request) => {
      const { id, stream } = request.params
      const quotas = await accounts.setQuota(id, stream, null)
      request.log.info({ accountId: id, stream }, 'operator: quota cleared')
      return { account_id: id, quotas }
    },
  )

  app.post(
    '/accounts/:id/keys',
    {
      schema: {
        tags: TAGS,
        summary: 'Create an API key for an account; the secret is in this response only',
        description: AUTH,
        params: IdParamsSchema,
        body: OperatorCreateKeyBodySchema,
        response: { 201: CreatedApiKeySchema, ...errors(401, 404, 422, 429) },
      },
    },
    async (request, reply) => {
      const created = await accounts.createKey(request.params.id, { scope: request.body.scope, name: request.body.name })
      request.log.info(
        { accountId: request.params.id, apiKeyId: created.apiKey.id, scope: created.apiKey.scope },
        'operator: API key created',
      )
      return reply.status(201).send({ key: created.key, api_key: presentApiKey(created.apiKey) })
    },
  )
}
