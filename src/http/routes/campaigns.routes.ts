import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { type CampaignService, campaignRates } from '../../modules/campaigns/campaign.service.js'
import type { Campaign } from '../../modules/campaigns/campaign.types.js'
import { cursorId, iso, nextCursor } from '../presenters.js'
import { CampaignActionSchema, CampaignDetailSchema, CampaignSchema, CreateCampaignSchema } from '../schemas/campaigns.js'
import { errors, IdParamsSchema } from '../schemas/common.js'
import { PageQuerySchema, page } from '../schemas/emails.js'

export interface CampaignRoutesOptions {
  campaigns: CampaignService
}

const present = (c: Campaign) => ({
  id: c.id,
  name: c.name,
  status: c.status,
  rate_per_hour: c.ratePerHour,
  scheduled_at: iso(c.scheduledAt),
  paused_reason: c.pausedReason,
  created_at: c.createdAt.toISOString(),
  updated_at: c.updatedAt.toISOString(),
})

export const campaignRoutes: FastifyPluginAsyncTypebox<CampaignRoutesOptions> = async (app, { campaigns }) => {
  app.post(
    '/campaigns',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Create a campaign',
        description: 'Sends name it with `campaign`; a campaign can spread its sends (rate_per_hour) and start later (scheduled_at).',
        body: CreateCampaignSchema,
        response: { 201: CampaignSchema, ...errors(401, 403, 422, 429) },
      },
    },
    async (request, reply) => reply.status(201).send(present(await campaigns.create(request.principal.accountId, request.body))),
  )

  app.get(
    '/campaigns',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'List campaigns, newest first',
        querystring: PageQuerySchema,
        response: { 200: page(CampaignSchema), ...errors(401, 403, 422, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20
      const rows = await campaigns.list(request.principal.accountId, cursorId(request.query.cursor), limit)
      return { data: rows.map(present), next_cursor: nextCursor(rows, limit) }
    },
  )

  app.get(
    '/campaigns/:id',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'A campaign with its recipients per status and its rates',
        params: IdParamsSchema,
        response: { 200: CampaignDetailSchema, ...errors(401, 403, 404, 429) },
      },
    },
    async (request) => {
      const { campaign, counts } = await campaigns.get(request.principal.accountId, request.params.id)
      return { ...present(campaign), counts, rates: campaignRates(counts) }
    },
  )

  const action = (name: 'pause' | 'resume' | 'cancel', summary: string) =>
    app.post(
      `/campaigns/:id/${name}`,
      {
        schema: {
          tags: ['campaigns'],
          summary,
          params: IdParamsSchema,
          response: { 200: CampaignActionSchema, ...errors(401, 403, 404, 409, 429) },
        },
      },
      async (request) => {
        const { campaign, ...rest } = await campaigns[name](request.principal.accountId, request.params.id)
        return { campaign: present(campaign), ...rest }
      },
    )
  action('pause', 'Pause: nothing more of it is handed to SMTP until it resumes')
  action('resume', 'Resume a paused campaign')
  action('cancel', 'Cancel: every recipient not yet handed to SMTP is cancelled, and it takes no more sends')
}
