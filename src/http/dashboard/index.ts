import type { FastifyInstance } from 'fastify'
import type { ApiKeyService } from '../../modules/api-keys/api-key.service.js'
import type { CampaignService } from '../../modules/campaigns/campaign.service.js'
import type { SessionService } from '../../modules/dashboard/session.service.js'
import type { DestinationsView } from '../../modules/delivery/destinations.view.js'
import type { DomainService } from '../../modules/domains/domain.service.js'
import type { EmailOverviewRepository } from '../../modules/emails/email.overview.js'
import type { EmailService } from '../../modules/emails/email.service.js'
import type { EmailSourceRepository } from '../../modules/emails/email.source.js'
import type { StatsService } from '../../modules/stats/stats.service.js'
import type { StreamService } from '../../modules/streams/stream.service.js'
import type { SuppressionService } from '../../modules/suppressions/suppression.service.js'
import type { WebhookService } from '../../modules/webhooks/webhook.service.js'
import { frame } from './dashboard.js'
import { authPages } from './pages.auth.js'
import { emailPages } from './pages.emails.js'
import { feedbackPages } from './pages.feedback.js'
import { managePages } from './pages.manage.js'
import { overviewPages } from './pages.overview.js'

export interface DashboardDeps {
  sessions: SessionService
  emails: EmailService
  sources: EmailSourceRepository
  campaigns: CampaignService
  suppressions: SuppressionService
  domains: DomainService
  webhooks: WebhookService
  apiKeys: ApiKeyService
  destinations: DestinationsView
  stats: StatsService
  streams: StreamService
  overview: EmailOverviewRepository
  /** Cookies are Secure when the dashboard is reached over HTTPS (PUBLIC_URL). */
  secureCookie: boolean
  /** PUBLIC_URL's origin: what the browser sends as Origin when a proxy rewrites Host. */
  publicOrigin: string
  idleMs: number
}

/**
 * The web dashboard at /dashboard: pages rendered on the server from the same services as the
 * API (no second code path, no client framework, no script), each scoped to the signed-in account.
 */
export async function dashboardRoutes(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  frame(app, deps)
  authPages(app, deps)
  overviewPages(app, deps)
  emailPages(app, deps)
  managePages(app, deps)
  feedbackPages(app, deps)
}
