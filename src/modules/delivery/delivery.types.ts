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
  /** Human-readable cause when there was no SMTP reply (timeouts, refused connections). */
  error?: string
}
