/** An endpoint as callers see it (never its secret, which is shown once). */
export interface WebhookEndpointView {
  id: string
  url: string
  description: string | null
  eventTypes: string[]
  streams: string[]
  domains: string[]
  tags: Record<string, string>
  enabled: boolean
  disabledReason: string | null
  failingSince: Date | null
  previousSecretExpiresAt: Date | null
  createdAt: Date
  updatedAt: Date
}

/** What an endpoint listens to; empty lists mean "all". */
export interface WebhookFilters {
  eventTypes: string[]
  streams: string[]
  /** Sending domains (the From address's domain), lower-case. */
  domains: string[]
  /** Every one of these tags must be on the email with this value. */
  tags: Record<string, string>
}

export interface EndpointInput extends Partial<WebhookFilters> {
  url: string
  description?: string | null
}

/** An event as the fan-out sees it, with what the filters look at. */
export interface FanoutEvent {
  id: string
  txid: string
  type: string
  createdAt: Date
  stream: string
  fromHeader: string
  tags: Record<string, string>
}

/** An endpoint as the fan-out matches it. */
export interface FanoutEndpoint extends WebhookFilters {
  id: string
  createdAt: Date
}

/** A webhook delivery claimed for sending, with everything its request needs. */
export interface ClaimedWebhook {
  id: string
  endpointId: string
  accountId: string
  attempt: number
  url: string
  /** Sealed secrets: the current one, and the previous one while its overlap lasts. */
  secret: string
  previousSecret: string | null
  event: {
    id: string
    type: string
    created_at: Date
    email_id: string
    recipient: string | null
    tags: Record<string, string>
    data: Record<string, unknown>
  }
}

/** The outcome of one POST, as recorded. */
export interface WebhookResult {
  id: string
  endpointId: string
  eventId: string
  attempt: number
  ok: boolean
  statusCode: number | null
  error: string | null
  responseBody: string | null
  durationMs: number
  /** When to try again; null when done (succeeded, or given up). */
  nextAttemptAt: Date | null
}

export interface WebhookAttemptView {
  id: string
  deliveryId: string
  eventId: string
  number: number
  startedAt: Date
  durationMs: number
  statusCode: number | null
  error: string | null
  responseBody: string | null
}
