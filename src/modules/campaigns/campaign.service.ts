import type { Logger } from '../../infra/logger.js'
import { AppError, type ErrorDetail, notFound, validationFailed } from '../../lib/errors.js'
import type { Dispatcher } from '../delivery/dispatch.port.js'
import type { WithdrawnJob } from './campaign.recipients.js'
import type { CampaignRepository } from './campaign.repository.js'
import type { Campaign, CampaignCounts, CampaignForSend } from './campaign.types.js'

export interface CampaignInput {
  name?: unknown
  rate_per_hour?: unknown
  scheduled_at?: unknown
}

const MAX_SCHEDULE_AHEAD_MS = 30 * 86_400_000

/** Rates a dashboard shows, from the counts (null while nothing they divide by has happened). */
export function campaignRates(counts: CampaignCounts) {
  const n = (s: string) => counts.recipients[s] ?? 0
  const delivered = n('sent') + n('delivered')
  const attempted = delivered + n('bounced')
  const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 10_000) / 10_000 : null)
  return {
    delivery_rate: ratio(delivered, attempted),
    bounce_rate: ratio(n('bounced'), attempted),
    complaint_rate: ratio(counts.complained, delivered),
    unsubscribe_rate: ratio(counts.unsubscribed, delivered),
  }
}

/**
 * Campaigns group sends (a newsletter issue) for progress and control: pause holds everything
 * not yet handed to SMTP, resume lets it go again, cancel ends it — "we sent the wrong
 * newsletter" stops within seconds, since the claim refuses the recipients of a campaign that is
 * not active. A campaign may spread its sends (`rate_per_hour`) and start later (`scheduled_at`).
 */
export function createCampaignService(deps: { repository: CampaignRepository; dispatcher: Dispatcher; logger: Logger }) {
  const { repository, dispatcher, logger } = deps

  const found = async <T>(value: Promise<T | undefined>, accountId: string, id: string, action: string): Promise<T> => {
    const result = await value
    if (result !== undefined) return result
    const existing = await repository.find(accountId, id)
    if (!existing) throw notFound('Campaign')
    throw new AppError('conflict', `The campaign is ${existing.status}; it cannot be ${action}.`)
  }

  const retryLater = (reconcile: () => ReturnType<CampaignRepository['reconcile']>, id: string, attempt = 1): void => {
    if (attempt > 5) {
      logger.error({ campaignId: id }, 'gave up checking accepted emails against their campaign; held ones need a pause and resume')
      return
    }
    setTimeout(() => {
      reconcile()
        .then(async (settled) => {
          if (settled?.dispatch.length) await dispatcher.dispatch(settled.dispatch).catch(() => {})
          if (settled?.withdraw.length) await withdraw(settled.withdraw, id)
        })
        .catch(() => retryLater(reconcile, id, attempt + 1))
    }, 2_000 * attempt).unref()
  }

  // The lane need not work through jobs that will find nothing; the claim refuses them anyway.
  const withdraw = async (jobs: WithdrawnJob[], campaignId: string) => {
    await dispatcher
      .withdraw?.(jobs)
      .catch((err) => logger.warn({ err: String(err), campaignId }, 'could not withdraw the jobs; they will find nothing'))
  }

  return {
    async create(accountId: string, input: CampaignInput): Promise<Campaign> {
      const details: ErrorDetail[] = []
      const name = typeof input.name === 'string' ? input.name.trim() : ''
      if (name.length < 1 || name.length > 200 || [...name].some((c) => c < ' ') || !name.isWellFormed()) {
        details.push({ path: '/name', message: 'a name of 1-200 characters without control characters is required' })
      }
      const rate = input.rate_per_hour
      if (rate !== undefined && !(Number.isInteger(rate) && (rate as number) >= 1 && (rate as number) <= 10_000_000)) {
        details.push({ path: '/rate_per_hour', message: 'must be an integer from 1 to 10000000 (messages per hour)' })
      }
      let scheduledAt: Date | undefined
      if (input.scheduled_at !== undefined) {
        const at = typeof input.scheduled_at === 'string' ? new Date(input.scheduled_at) : new Date(Number.NaN)
        if (Number.isNaN(at.getTime())) details.push({ path: '/scheduled_at', message: 'must be an RFC 3339 date-time' })
        else if (at.getTime() - Date.now() > MAX_SCHEDULE_AHEAD_MS)
          details.push({ path: '/scheduled_at', message: 'can be at most 30 days ahead' })
        else if (at.getTime() > Date.now()) scheduledAt = at
      }
      if (details.length > 0) throw validationFailed(details)
      return repository.create(accountId, { name, ratePerHour: rate as number | undefined, scheduledAt })
    },

    async get(accountId: string, id: string): Promise<{ campaign: Campaign; counts: CampaignCounts }> {
      const campaign = await repository.find(accountId, id)
      if (!campaign) throw notFound('Campaign')
      return { campaign, counts: await repository.counts(accountId, id) }
    },

    list: (accountId: string, before: string | undefined, limit: number) => repository.list(accountId, before, limit),

    async pause(accountId: string, id: string) {
      const { campaign, held, jobs } = await found(repository.pause(accountId, id, 'paused by its owner'), accountId, id, 'paused')
      await withdraw(jobs, id)
      logger.info({ accountId, campaignId: id, held }, 'campaign paused')
      return { campaign, held }
    },

    async resume(accountId: string, id: string) {
      const { campaign, jobs } = await found(repository.resume(accountId, id), accountId, id, 'resumed')
      // Best effort, as at accept: the sweeper dispatches whatever does not make it now.
      await dispatcher
        .dispatch(jobs)
        .catch((err) => logger.warn({ err: String(err), campaignId: id }, 'dispatch failed; the sweeper will retry'))
      logger.info({ accountId, campaignId: id, resumed: jobs.length }, 'campaign resumed')
      return { campaign, resumed: jobs.length }
    },

    async cancel(accountId: string, id: string) {
      const { campaign, cancelled, jobs } = await found(repository.cancel(accountId, id), accountId, id, 'cancelled')
      await withdraw(jobs, id)
      logger.info({ accountId, campaignId: id, cancelled }, 'campaign cancelled')
      return { campaign, cancelled }
    },

    /**
     * After an accept into a campaign has committed: makes its emails agree with the campaign's
     * status now (see the repository's `reconcile`), dispatching what it released and withdrawing
     * the jobs of what it held or cancelled. Returns that status; undefined if it could not be
     * read, and then it is tried again in the background a few times (meanwhile an unheld email of
     * a paused campaign is refused by the claim; a held one of an active campaign waits for it).
     */
    async settleAccepted(accountId: string, id: string, emailIds: string[], anyHeld: boolean): Promise<Campaign['status'] | undefined> {
      try {
        const settled = await repository.reconcile(accountId, id, emailIds, anyHeld)
        if (!settled) return undefined
        if (settled.dispatch.length > 0) {
          await dispatcher
            .dispatch(settled.dispatch)
            .catch((err) => logger.warn({ err: String(err), campaignId: id }, 'dispatch failed; the sweeper will retry'))
        }
        if (settled.withdraw.length > 0) await withdraw(settled.withdraw, id)
        return settled.status
      } catch (err) {
        // The emails are committed as accepted; a held one of a campaign resumed meanwhile would
        // wait for a resume that never comes, so the check is tried again a few times in the background.
        logger.warn({ err: String(err), campaignId: id }, 'could not check the campaign after an accept; trying again')
        retryLater(() => repository.reconcile(accountId, id, emailIds, anyHeld), id)
        return undefined
      }
    },

    /**
     * What `count` sends into a campaign need (`CampaignForSend`): 422 naming `path` when the
     * account has no such campaign, 409 when it is cancelled.
     */
    async forSend(accountId: string, id: string, count: number, path = '/campaign'): Promise<CampaignForSend> {
      const c = await repository.forSend(accountId, id, count)
      if (!c) throw validationFailed([{ path, message: 'no such campaign in this account; create one with POST /v1/campaigns' }])
      if (c.status === 'cancelled') throw new AppError('conflict', 'This campaign is cancelled; it takes no more sends.')
      return c
    },
  }
}

export type CampaignService = ReturnType<typeof createCampaignService>
