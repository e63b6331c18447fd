export type ApiKeyScope = 'full' | 'send'

/** The authenticated caller. Every query a request makes is scoped by `accountId`. */
export interface Principal {
  accountId: string
  apiKeyId: string
  keyId: string
  scope: ApiKeyScope
  /** The account's footer for broadcast mail, when it has one. */
  broadcastFooter?: string | null
}

export interface ApiKeyView {
  id: string
  name: string | null
  scope: ApiKeyScope
  hint: string
  createdAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}
