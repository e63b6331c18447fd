import { campaignRates } from '../../../modules/campaigns/campaign.service.js'
import { example, json, type OperationExamples } from './define.js'
import { at, CAMPAIGN_ID, cursorAfter, DAY, T0, TEMPLATE_ID, uuidAt } from './values.js'

const campaign = (overrides: Record<string, unknown> = {}) => ({
  id: CAMPAIGN_ID,
  name: 'December newsletter',
  status: 'active',
  rate_per_hour: 20_000,
  scheduled_at: '2026-12-01T23:00:00.000Z',
  paused_reason: null,
  created_at: at(-2 * DAY),
  updated_at: at(-2 * DAY),
  ...overrides,
})

const COUNTS = {
  recipients: { delivered: 18_234, queued: 1_500, deferred: 41, bounced: 120, suppressed: 85 },
  complained: 6,
  unsubscribed: 44,
}

const SUBJECT = 'Welcome to Acme, {{ first_name }}'
const TEXT = 'Hi {{ first_name }},\n\nyour {{ plan }} plan is ready.'
const HTML = '<p>Hi {{ first_name }},</p><p>your <b>{{ plan }}</b> plan is ready.</p>'

const template = (overrides: Record<string, unknown> = {}) => ({
  id: TEMPLATE_ID,
  name: 'welcome',
  version: 2,
  current_version: 2,
  subject: 'Welcome aboard, {{ first_name }}',
  text: TEXT,
  html: HTML,
  variables: ['first_name', 'plan'],
  created_at: at(-10 * DAY),
  updated_at: at(-DAY),
  ...overrides,
})

const FIRST_VERSION = template({ version: 1, current_version: 1, subject: SUBJECT, updated_at: at(-10 * DAY) })

const GUARD_REASON = 'complaint rate 0.14 % over 24 h passed 0.1 % (7 complaints, 5012 delivered)'

export const CAMPAIGN_EXAMPLES: Record<string, OperationExamples> = {
  'POST /v1/campaigns': {
    request: json(
      example('spread', 'Start tomorrow morning (JST), at most 20,000 sends an hour', {
        name: 'December newsletter',
        rate_per_hour: 20_000,
        scheduled_at: '2026-12-02T08:00:00+09:00',
      }),
    ),
    responses: { '201': json(example('created', 'Created', campaign())) },
  },
  'GET /v1/campaigns': {
    responses: {
      '200': json(
        example('page', 'Newest first', {
          data: [campaign(), campaign({ id: uuidAt(at(-32 * DAY), 71), name: 'November newsletter', created_at: at(-32 * DAY) })],
          next_cursor: cursorAfter(uuidAt(at(-32 * DAY), 71)),
        }),
      ),
    },
  },
  'GET /v1/campaigns/{id}': {
    responses: { '200': json(example('progress', 'Part way through', { ...campaign(), counts: COUNTS, rates: campaignRates(COUNTS) })) },
  },
  'POST /v1/campaigns/{id}/pause': {
    responses: {
      '200': json(
        example('paused', 'Paused', {
          campaign: campaign({ status: 'paused', paused_reason: 'paused by its owner', updated_at: T0 }),
          held: 1_541,
        }),
      ),
    },
  },
  'POST /v1/campaigns/{id}/resume': {
    responses: { '200': json(example('resumed', 'Active again', { campaign: campaign({ updated_at: T0 }), resumed: 1_541 })) },
  },
  'POST /v1/campaigns/{id}/cancel': {
    responses: {
      '200': json(
        example('cancelled', 'Cancelled for good', { campaign: campaign({ status: 'cancelled', updated_at: T0 }), cancelled: 1_541 }),
      ),
    },
  },

  'POST /v1/templates': {
    request: json(example('welcome', 'Text and HTML', { name: 'welcome', subject: SUBJECT, text: TEXT, html: HTML })),
    responses: { '201': json(example('created', 'Version 1', FIRST_VERSION)) },
  },
  'GET /v1/templates': {
    responses: { '200': json(example('page', 'Current versions, newest first', { data: [template()], next_cursor: null })) },
  },
  'GET /v1/templates/{id}': {
    responses: { '200': json(example('current', 'GET /v1/templates/welcome: the current version', template())) },
  },
  'PATCH /v1/templates/{id}': {
    request: json(example('subject', 'A new subject; text and HTML kept', { subject: 'Welcome aboard, {{ first_name }}' })),
    responses: { '200': json(example('version_2', 'Version 2, now current', template({ updated_at: T0 }))) },
  },
  'POST /v1/templates/{id}/render': {
    request: json(example('preview', 'The current version with these variables', { variables: { first_name: 'Ada', plan: 'Pro' } })),
    responses: {
      '200': json(
        example('rendered', 'Rendered', {
          template_id: TEMPLATE_ID,
          version: 2,
          subject: 'Welcome aboard, Ada',
          text: 'Hi Ada,\n\nyour Pro plan is ready.',
          html: '<p>Hi Ada,</p><p>your <b>Pro</b> plan is ready.</p>',
        }),
      ),
    },
  },

  'GET /v1/streams': {
    responses: {
      '200': json(
        example('paused', 'The broadcast stream paused by the complaint-rate guard', {
          data: [
            { name: 'transactional', kind: 'transactional', paused: false, paused_reason: null, paused_at: null },
            { name: 'broadcast', kind: 'broadcast', paused: true, paused_reason: GUARD_REASON, paused_at: at(-3_600_000) },
          ],
        }),
      ),
    },
  },
}
