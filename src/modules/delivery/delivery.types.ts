import type { EmailStatus, RecipientStatus } from '../emails/email.types.js'
import type { EventData, EventType } from '../events/event.types.js'
import type { BounceCategory } from '../feedback/bounce.classify.js'
import type { ComposableAttachment, ComposableEmail } from './mime.compose.js'
import type { RuleMatch } from './reply-rules.js'

/** A reply line from a remote SMTP server, with its RFC 3463 enhanced code when it had one. */
export interface SmtpReply {
  code: number
  enhanced?: string
  text: string
}

/**
 * Where in the SMTP conversation a transaction ended. `after_data` means the whole message
 * was handed to the server and the connection died before its reply: it may have been accepted.
 */
export type SmtpPhase = 'dns' | 'connect' | 'greeting' | 'tls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'after_data'

export interface SessionInfo {
  remoteHost: string
  remoteIp?: string
  tlsVersion?: string
  tlsCipher?: string
  durationMs: number
}

/** Per-recipient replies to RCPT TO, for recipients the server refused. */
export type RcptRejections = Map<string, SmtpReply>

/** The result of one SMTP transaction, as the transport saw it. Pure data: classified separately. */
export type TransactionResult =
  | { ok: true; session: SessionInfo; dataReply: SmtpReply; rejected: RcptRejections }
  | {
      ok: false
      session: SessionInfo
      phase: SmtpPhase
      reply?: SmtpReply
      /** Transport error code such as ECONNREFUSED, ETIMEDOUT, EAUTH, ETLS; EPRIVATE for a refused MX address. */
      errorCode?: string
      /** The failure is our own configuration (the relay refusing our credentials or TLS). */
      ourSide?: boolean
      message: string
      rejected: RcptRejections
    }

export type OutcomeStatus = 'sent' | 'deferred' | 'bounced' | 'failed'

/** What one attempt means for one recipient. */
export interface RecipientOutcome {
  status: OutcomeStatus
  phase: SmtpPhase | 'done'
  reply?: SmtpReply
  /** The server may have accepted the message although we saw no reply (C4). */
  possibleDuplicate: boolean
  /** Our own relay refused us (credentials, TLS): retried, never bounced, and logged as an error. */
  relayUnavailable: boolean
  /** The remote asked us to slow down (C6). */
  throttled: boolean
  /** The reply rule that read the reply (src/modules/delivery/reply-rules.ts), when one matched. */
  rule?: RuleMatch
  /** Human-readable cause when there was no SMTP reply (timeouts, refused connections). */
  error?: string
}

/** One job's request to run attempt `attempt` of a delivery. */
export interface ClaimRequest {
  deliveryId: string
  attempt: number
  /** `relay`, or the recipient domain of an MX delivery. */
  route?: string
  /** Bytes of the message, when the job knows them: the worker budgets memory before claiming. */
  size?: number
  /** The email's sender as holds name it (holds.ts `senderKey`), when the job knows it: a held one waits before claiming. */
  sender?: string
  /** When this delivery started waiting for a busy destination (epoch ms). */
  waitingSince?: number
  /** The stream whose lane the job came from (absent: transactional); retries go back to it. */
  stream?: string
}

/** A recipient this attempt holds: `sending`, with a lease, fenced by its attempt number. */
export interface ClaimedRecipient {
  id: string
  /** Index of the request (in the batch) this recipient was claimed for. */
  request: number
  deliveryId: string
  emailId: string
  accountId: string
  address: string
  attempt: number
  attemptId: string
  possibleDuplicate: boolean
  /** Taken over from an attempt whose lease lapsed (its worker died or stalled). */
  takenOver?: boolean
}

/** What a claimed delivery sends: the stored message and what its attempt needs to know. */
export interface EmailContent extends ComposableEmail {
  id: string
  accountId: string
  envelopeFrom: string
  expiresAt: Date
  tags: Record<string, string>
  recipientCount: number
  sizeBytes: number
  attachments: ComposableAttachment[]
  stream: string
}

/** One recipient's result of one attempt, as it will be stored. */
export interface RecordedOutcome {
  recipientId: string
  attemptId: string
  attempt: number
  emailId: string
  accountId: string
  address: string
  status: Extract<RecipientStatus, 'sent' | 'delivered' | 'deferred' | 'bounced' | 'expired' | 'failed'>
  reason: string | null
  nextAttemptAt: Date | null
  phase: string
  smtpCode: number | null
  enhancedCode: string | null
  reply: string | null
  remoteHost: string | null
  remoteIp: string | null
  tlsVersion: string | null
  tlsCipher: string | null
  durationMs: number
  possibleDuplicate: boolean
  /** hard | soft | policy | unknown when bounced; a hard bounce suppresses the address. */
  bounceCategory: BounceCategory | null
  eventType: EventType
  eventData: EventData
  /** The email's new status when this batch holds all of its recipients; null to recompute it. */
  emailStatus: EmailStatus | null
}

/** A recipient held by an attempt, as the lease and release statements fence it. */
export interface HeldRecipient {
  recipientId: string
  attempt: number
  attemptId: string
}
