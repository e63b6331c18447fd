import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { Config } from '../config.js'
import type { Logger } from '../infra/logger.js'
import type { Redis } from '../infra/redis.js'
import { createByteBudget } from '../lib/byte-budget.js'
import { uuidv7 } from '../lib/uuid.js'
import type { AccountService } from '../modules/accounts/account.service.js'
import type { ApiKeyService } from '../modules/api-keys/api-key.service.js'
import type { CampaignService } from '../modules/campaigns/campaign.service.js'
import type { SessionService } from '../modules/dashboard/session.service.js'
import type { DestinationsView } from '../modules/delivery/destinations.view.js'
import type { Dispatcher } from '../modules/delivery/dispatch.port.js'
import type { DomainService } from '../modules/domains/domain.service.js'
import type { EmailOverviewRepository } from '../modules/emails/email.overview.js'
import type { EmailService } from '../modules/emails/email.service.js'
import type { EmailSourceRepository } from '../modules/emails/email.source.js'
import type { EventService } from '../modules/events/event.service.js'
import type { StatsService } from '../modules/stats/stats.service.js'
import type { StreamService } from '../modules/streams/stream.service.js'
import type { SuppressionService } from '../modules/suppressions/suppression.service.js'
import type { TemplateService } from '../modules/templates/template.service.js'
import type { UnsubscribeService } from '../modules/unsubscribe/unsubscribe.service.js'
import type { WebhookService } from '../modules/webhooks/webhook.service.js'
import { dashboardRoutes } from './dashboard/index.js'
import { registerAdmission } from './plugins/admission.js'
import { registerAuth } from './plugins/auth.js'
import { registerBodyBudget } from './plugins/body-budget.js'
import { registerErrorHandler } from './plugins/error-handler.js'
import { type RequestMetrics, registerRequestMetrics } from './plugins/metrics.js'
import { registerOpenApi } from './plugins/openapi.js'
import { registerOperatorAuth } from './plugins/operator-auth.js'
import { registerRateLimit } from './plugins/rate-limit.js'
import { accountRoutes } from './routes/account.routes.js'
import { apiKeyRoutes } from './routes/api-keys.routes.js'
import { campaignRoutes } from './routes/campaigns.routes.js'
import { destinationRoutes } from './routes/destinations.routes.js'
import { domainRoutes } from './routes/domains.routes.js'
import { emailRoutes } from './routes/emails.routes.js'
import { eventRoutes } from './routes/events.routes.js'
import { type HealthOptions, healthRoutes } from './routes/health.routes.js'
import { operatorRoutes } from './routes/operator.routes.js'
import { statsRoutes } from './routes/stats.routes.js'
import { streamRoutes } from './routes/streams.routes.js'
import { suppressionRoutes } from './routes/suppressions.routes.js'
import { templateRoutes } from './routes/templates.routes.js'
import { unsubscribeRoutes } from './routes/unsubscribe.routes.js'
import { webhookRoutes } from './routes/webhooks.routes.js'
import { ErrorResponseSchema } from './schemas/common.js'
import { validatorCompiler } from './validation.js'

export interface HttpDeps {
  config: Pick<
    Config,
    | 'maxMessageBytes'
    | 'rateLimitMax'
    | 'rateLimitWindowMs'
    | 'admissionMaxBacklog'
    | 'bullmqPrefix'
    | 'httpBodyBudget'
    | 'publicUrl'
    | 'dashboardIdleTimeoutMs'
    | 'operatorToken'
  >
  logger: Logger
  redis: Redis
  dispatcher: Dispatcher
  apiKeys: ApiKeyService
  accounts: AccountService
  emails: EmailService
  domains: DomainService
  destinations: DestinationsView
  events: EventService
  webhooks: WebhookService
  suppressions: SuppressionService
  unsubscribe: UnsubscribeService
  campaigns: CampaignService
  templates: TemplateService
  streams: StreamService
  stats: StatsService
  sessions: SessionService
  emailSources: EmailSourceRepository
  emailOverview: EmailOverviewRepository
  checkReady: HealthOptions['checkReady']
  /** The longest one request may take to arrive (REQUEST_TIMEOUT_MS unless a test shortens it). */
  requestTimeoutMs?: number
  /** Times every request (the process's metrics). */
  requestMetrics?: RequestMetrics
}

/**
 * The longest a request may take to arrive, headers and body, from its first byte. A body's
 * share of the body budget is reserved before it is read (see plugins/body-budget), so without a
 * limit a client that sends its headers and then a byte now and then (or nothing) would hold its
 * reservation for ever. Two minutes, the figure Fastify's documentation suggests: a body of the
 * maximum size (about 38 MB for 25 MiB messages) then needs about 330 kB/s.
 */
export const REQUEST_TIMEOUT_MS = 120_000

/** Room for base64 (4/3) plus JSON escaping around a message of MAX_MESSAGE_BYTES. */
export const bodyLimitFor = (maxMessageBytes: number): number => Math.ceil(maxMessageBytes * 1.5) + 65_536

/** Builds the HTTP application. It never listens: entrypoints and tests decide that. */
export async function buildHttpApp(deps: HttpDeps): Promise<FastifyInstance> {
  const bodyLimit = bodyLimitFor(deps.config.maxMessageBytes)
  const requestTimeout = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit,
    // Fastify sets Node's server.requestTimeout from this (its default, 0, disables Node's own):
    // past it Node answers 408 and closes the connection, which releases the body's reservation.
    // Node looks for late requests every connectionsCheckingInterval (30 s by default), so a
    // request is cut between the timeout and the timeout plus that interval.
    requestTimeout,
    http: {
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeout / 4))),
      headersTimeout: Math.min(60_000, requestTimeout),
    },
    genReqId: () => uuidv7(),
    requestIdHeader: false,
    // One log line per request costs more than the request at thousands per second; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.setValidatorCompiler(validatorCompiler)
  app.addSchema(ErrorResponseSchema)
  registerErrorHandler(app)
  if (deps.requestMetrics) registerRequestMetrics(app, deps.requestMetrics)
  app.decorate('bodyBudget', createByteBudget(deps.config.httpBodyBudget))
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  await registerOpenApi(app)
  await app.register(healthRoutes, { checkReady: deps.checkReady })
  await app.register(unsubscribeRoutes, { unsubscribe: deps.unsubscribe })
  await app.register(dashboardRoutes, {
    prefix: '/dashboard',
    ...deps,
    sessions: deps.sessions,
    sources: deps.emailSources,
    overview: deps.emailOverview,
    secureCookie: deps.config.publicUrl.startsWith('https:'),
    publicOrigin: new URL(deps.config.publicUrl).origin,
    idleMs: deps.config.dashboardIdleTimeoutMs,
  })
  // The operator API is a sibling of the v1 scope, not inside it: API keys are never checked
  // there, and OPERATOR_TOKEN is never checked on the accounts' routes.
  await app.register(
    async (operator) => {
      registerOperatorAuth(operator, { token: deps.config.operatorToken })
      await operator.register(operatorRoutes, { accounts: deps.accounts })
    },
    { prefix: '/v1/operator' },
  )

  await app.register(
    async (v1) => {
      registerAdmission(v1, deps.dispatcher, deps.config.admissionMaxBacklog)
      registerAuth(v1, deps.apiKeys)
      await registerRateLimit(v1, {
        redis: deps.redis,
        prefix: deps.config.bullmqPrefix,
        max: deps.config.rateLimitMax,
        windowMs: deps.config.rateLimitWindowMs,
      })
      registerBodyBudget(v1, { budget: app.bodyBudget, bodyLimit })
      await v1.register(emailRoutes, { emails: deps.emails })
      await v1.register(apiKeyRoutes, { apiKeys: deps.apiKeys })
      await v1.register(accountRoutes, { accounts: deps.accounts })
      await v1.register(domainRoutes, { domains: deps.domains })
      await v1.register(destinationRoutes, { destinations: deps.destinations })
      await v1.register(eventRoutes, { events: deps.events })
      await v1.register(webhookRoutes, { webhooks: deps.webhooks })
      await v1.register(suppressionRoutes, { suppressions: deps.suppressions })
      await v1.register(campaignRoutes, { campaigns: deps.campaigns })
      await v1.register(templateRoutes, { templates: deps.templates })
      await v1.register(streamRoutes, { streams: deps.streams })
      await v1.register(statsRoutes, { stats: deps.stats })
    },
    { prefix: '/v1' },
  )

  return app
}
