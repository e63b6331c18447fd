import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { StoredAccount } from '../../modules/accounts/account.repository.js'
import type { AccountService } from '../../modules/accounts/account.service.js'
import { AccountSchema, UpdateAccountBodySchema } from '../schemas/accounts.js'
import { errors } from '../schemas/common.js'

const present = (a: StoredAccount) => ({
  id: a.id,
  name: a.name,
  broadcast_footer: a.broadcastFooter,
  created_at: a.createdAt.toISOString(),
})

export const accountRoutes: FastifyPluginAsyncTypebox<{ accounts: AccountService }> = async (app, { accounts }) => {
  app.get(
    '/account',
    {
      schema: {
        tags: ['account'],
        summary: "The calling key's account and its settings",
        response: { 200: AccountSchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (request) => present(await accounts.get(request.principal.accountId)),
  )

  app.patch(
    '/account',
    {
      schema: {
        tags: ['account'],
        summary: "Changes the account's settings: the footer of its broadcast mail",
        body: UpdateAccountBodySchema,
        response: { 200: AccountSchema, ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request) => present(await accounts.setBroadcastFooter(request.principal.accountId, request.body.broadcast_footer)),
  )
}
