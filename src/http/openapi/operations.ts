/**
 * Every operation of the API, keyed by "METHOD /path" as the document writes it: its operationId,
 * and its description where the route schema has none (a route's own description wins, and the
 * tests refuse a table entry that repeats one). A route without an entry here, or an entry
 * without a route, fails test/unit/openapi.test.ts.
 */
export interface OperationEntry {
  operationId: string
  description?: string
}

export const OPERATIONS: Record<string, OperationEntry> = {
  'GET /healthz': {
    operationId: 'getHealth',
    description: 'Answers 200 while the process runs; it checks nothing else. No authentication.',
  },
  'GET /readyz': {
    operationId: 'getReadiness',
    description:
      'Asks PostgreSQL (`SELECT 1`) and Redis (PING): 200 when both answer, 503 with `checks` saying which is down. No authentication.',
  },

  'POST /v1/emails': { operationId: 'sendEmail' },
  'GET /v1/emails': {
    operationId: 'listEmails',
    description:
      "The account's emails, newest first, filtered by status, a recipient's status or address, a tag and the time they were created. Pages hold `limit` emails (20 by default); pass `next_cursor` as `cursor` for the next.",
  },
  'POST /v1/emails/batch': { operationId: 'sendBatch' },
  'GET /v1/emails/{id}': { operationId: 'getEmail' },
  'GET /v1/emails/{id}/events': {
    operationId: 'listEmailEvents',
    description: 'Every event of one email (queued, sent, delivered, deferred, bounced, …), oldest first, paged with `limit` and `cursor`.',
  },
  'POST /v1/emails/{id}/cancel': {
    operationId: 'cancelEmail',
    description:
      'Cancels the recipients still scheduled, queued or deferred, each with an `email.cancelled` event; those being sent or finished are left as they are. 409 when none was left to cancel.',
  },

  'GET /v1/api-keys': { operationId: 'listApiKeys' },
  'POST /v1/api-keys': {
    operationId: 'createApiKey',
    description:
      "Creates a key for the calling key's account: scope `send` (the default) may only send email, `full` may call every route. The secret, `key`, is in this answer and never again.",
  },
  'DELETE /v1/api-keys/{id}': {
    operationId: 'revokeApiKey',
    description:
      'Revokes the key: it is refused from its next request. A key revoked before is answered as it is, with its first revoked_at.',
  },

  'GET /v1/account': {
    operationId: 'getAccount',
    description: "The calling key's account: its id, name, creation time and the footer of its broadcast mail.",
  },
  'PATCH /v1/account': {
    operationId: 'updateAccount',
    description:
      'Sets the broadcast footer, or removes it with null: the sender details appended to the text and HTML of every broadcast message the API accepts from then on.',
  },

  'POST /v1/domains': { operationId: 'createDomain' },
  'GET /v1/domains': {
    operationId: 'listDomains',
    description:
      "The account's sending domains, newest first, each with its DNS records and their last verdicts; paged with `limit` and `cursor`.",
  },
  'GET /v1/domains/{id}': {
    operationId: 'getDomain',
    description:
      'One sending domain: its status, DKIM selector, return-path domain, and the DNS records to publish with the verdict of the last verification.',
  },
  'DELETE /v1/domains/{id}': {
    operationId: 'deleteDomain',
    description:
      'Deletes the domain and its DKIM keys: mail from it is no longer signed with them and, where REQUIRE_VERIFIED_DOMAIN is on, sends from it are refused.',
  },
  'POST /v1/domains/{id}/verify': { operationId: 'verifyDomain' },
  'GET /v1/sending-host': { operationId: 'getSendingHost' },

  'GET /v1/destinations': { operationId: 'listDestinations' },
  'GET /v1/events': { operationId: 'listEvents' },

  'POST /v1/webhooks': { operationId: 'createWebhook' },
  'GET /v1/webhooks': {
    operationId: 'listWebhooks',
    description: "The account's webhook endpoints, newest first, without their secrets; paged with `limit` and `cursor`.",
  },
  'GET /v1/webhooks/{id}': {
    operationId: 'getWebhook',
    description:
      'One webhook endpoint: its URL, filters, whether it is enabled (or why it was disabled) and since when its requests fail. Its secret is never shown again.',
  },
  'PATCH /v1/webhooks/{id}': {
    operationId: 'updateWebhook',
    description:
      'Changes the fields given: url (checked as on creation), description, filters. `enabled: false` pauses the endpoint; `enabled: true` resumes it, also after it was disabled for failing.',
  },
  'DELETE /v1/webhooks/{id}': {
    operationId: 'deleteWebhook',
    description: 'Deletes the endpoint with the requests still waiting for it: no further events are sent to it.',
  },
  'POST /v1/webhooks/{id}/rotate-secret': {
    operationId: 'rotateWebhookSecret',
    description:
      'Answers a new signing secret, shown this once. For `overlap_seconds` (a day by default, a week at most) requests carry signatures with both the old and the new secret, so receivers can switch over.',
  },
  'GET /v1/webhooks/{id}/attempts': {
    operationId: 'listWebhookAttempts',
    description:
      "The endpoint's requests, newest first: the event, the attempt number, the status code or error, the duration and the first bytes of the answer; paged with `limit` and `cursor`.",
  },
  'POST /v1/webhooks/{id}/replay': { operationId: 'replayWebhookEvents' },

  'GET /v1/suppressions': { operationId: 'listSuppressions' },
  'POST /v1/suppressions': { operationId: 'addSuppression' },
  'GET /v1/suppressions/export': { operationId: 'exportSuppressions' },
  'GET /v1/suppressions/{address}': { operationId: 'getSuppression' },
  'DELETE /v1/suppressions/{address}': { operationId: 'deleteSuppression' },
  'POST /v1/suppressions/import': { operationId: 'importSuppressions' },

  'POST /v1/campaigns': { operationId: 'createCampaign' },
  'GET /v1/campaigns': {
    operationId: 'listCampaigns',
    description: "The account's campaigns, newest first; paged with `limit` and `cursor`.",
  },
  'GET /v1/campaigns/{id}': {
    operationId: 'getCampaign',
    description:
      'One campaign with its recipients counted per status, its complaints and unsubscribes, and the delivery, bounce, complaint and unsubscribe rates they make (null while a rate has nothing to divide by).',
  },
  'POST /v1/campaigns/{id}/pause': {
    operationId: 'pauseCampaign',
    description:
      'Pauses an active campaign: its waiting recipients are held (`held` counts them) and none is handed to SMTP until it resumes. 409 unless the campaign is active.',
  },
  'POST /v1/campaigns/{id}/resume': {
    operationId: 'resumeCampaign',
    description:
      'Makes a paused campaign active again: its held recipients are due again, spread by rate_per_hour (`resumed` counts the deliveries dispatched). 409 unless the campaign is paused.',
  },
  'POST /v1/campaigns/{id}/cancel': {
    operationId: 'cancelCampaign',
    description:
      'Cancels an active or paused campaign for good: every recipient not yet handed to SMTP is cancelled (`cancelled` counts them), and sends naming it get 409. 409 when it is cancelled already.',
  },

  'POST /v1/templates': {
    operationId: 'createTemplate',
    description:
      'Creates version 1 of a template: a name unique in the account, a subject, and a text and/or HTML body in Liquid; `variables` lists the top-level variables it uses. 409 when the name is taken.',
  },
  'GET /v1/templates': {
    operationId: 'listTemplates',
    description: "The account's templates at their current versions, newest first; paged with `limit` and `cursor`.",
  },
  'GET /v1/templates/{id}': {
    operationId: 'getTemplate',
    description: 'A template by its id or its name, at its current version or at `version`. Deleted templates are not found.',
  },
  'PATCH /v1/templates/{id}': {
    operationId: 'updateTemplate',
    description:
      'Makes a new version from the fields given, the others kept from the current version, and makes it current. Sends already accepted keep what they rendered; a template keeps its name.',
  },
  'DELETE /v1/templates/{id}': {
    operationId: 'deleteTemplate',
    description: 'Deletes the template: sends can no longer name it and its name is free again. Mail already accepted is not affected.',
  },
  'POST /v1/templates/{id}/render': {
    operationId: 'renderTemplate',
    description:
      'Renders the template (its current version, or `version`) with `variables` as a send would, and answers the subject, text and HTML; nothing is sent. A template that fails to render, or none of that id or name, answers 422.',
  },

  'GET /v1/streams': {
    operationId: 'listStreams',
    description:
      'Every configured stream (transactional, broadcast and those of STREAMS) with its kind, and whether the complaint-rate guard paused it for this account, when and why.',
  },
  'POST /v1/streams/{name}/resume': {
    operationId: 'resumeStream',
    description:
      "Lifts the complaint-rate guard's pause of one of the account's streams: sends into it are accepted again and its waiting mail is handed to SMTP again. 404 for a stream not configured, 409 when it is not paused.",
  },

  'GET /v1/stats': { operationId: 'getStats' },

  'POST /v1/operator/accounts': { operationId: 'operatorCreateAccount' },
  'GET /v1/operator/accounts': { operationId: 'operatorListAccounts' },
  'GET /v1/operator/accounts/{id}': { operationId: 'operatorGetAccount' },
  'POST /v1/operator/accounts/{id}/suspend': { operationId: 'operatorSuspendAccount' },
  'POST /v1/operator/accounts/{id}/unsuspend': { operationId: 'operatorUnsuspendAccount' },
  'PUT /v1/operator/accounts/{id}/retention': { operationId: 'operatorSetRetention' },
  'PUT /v1/operator/accounts/{id}/quotas/{stream}': { operationId: 'operatorSetQuota' },
  'DELETE /v1/operator/accounts/{id}/quotas/{stream}': { operationId: 'operatorClearQuota' },
  'POST /v1/operator/accounts/{id}/keys': { operationId: 'operatorCreateApiKey' },
}
