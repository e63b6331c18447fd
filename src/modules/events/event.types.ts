export const EVENT_TYPES = [
  'email.queued',
  'email.scheduled',
  'email.sent',
  'email.delivered',
  'email.deferred',
  'email.bounced',
  'email.expired',
  'email.failed',
  'email.suppressed',
  'email.cancelled',
  'email.complained',
  'email.unsubscribed',
  'stream.paused',
] as const

export type EventType = (typeof EVENT_TYPES)[number]

/** What an event says about the attempt behind it (docs/architecture.md §4). Absent keys mean "not applicable". */
export interface EventData {
  attempt?: number
  smtp_code?: number
  enhanced_code?: string
  reply?: string
  remote_host?: string
  remote_ip?: string
  tls_version?: string
  duration_ms?: number
  reason?: string
  next_attempt_at?: string
  possible_duplicate?: boolean
  /** hard | soft | policy | unknown, on every bounce. */
  bounce_category?: string
  /** The bounce or delay was reported later (a DSN), not answered in the SMTP transaction. */
  async?: boolean
  /** The stored inbound report behind an asynchronous bounce, delay or complaint. */
  report_id?: string
  /** A complaint's ARF Feedback-Type (abuse, fraud, …) and the reporting provider's software. */
  feedback_type?: string
  user_agent?: string
  /** An expiry's pending reason before it, when more than a retry (destination_blocked, warming_up, …). */
  last_reason?: string
  /** The reply rule that read the remote's reply (its id), and the class it put the reply in. */
  rule?: string
  rule_class?: string
  /** An unsubscribe: the stream it applies to, and how it came (one_click: the link; mailto). */
  stream?: string
  method?: string
  /** A stream paused by the complaint-rate guard: the rate, over what window, from how many deliveries. */
  complaint_rate?: number
  window?: string
  delivered?: number
  complaints?: number
}

export interface NewEvent {
  id: string
  accountId: string
  emailId: string
  recipientId: string | null
  recipient: string | null
  type: EventType
  data: EventData
}
