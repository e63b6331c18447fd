export type ApiKeyScope = 'full' | 'send'

/** The authenticated caller. Every query a request makes is scoped by `accountId`. */
export interface Principal {
  accountId: string
  apiKeyId: string
  keyId: string
  scope: ApiKeyScope
  /** The account's footer for broadcast mail, when it has one. */
  broadcastFooter?: string | null
  /** The account's own quotas per stream; a stream not named has the stream's default (STREAMS). */
  quotas?: AccountQuotas
}

/** Recipients per UTC day / month, per stream. */
export type AccountQuotas = Record<string, { day?: number; month?: number }>

export interface ApiKeyView {
  id: string
  name: string | null
  scope: ApiKeyScope
  hint: string
  createdAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}
