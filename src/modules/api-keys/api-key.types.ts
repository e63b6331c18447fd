export type ApiKeyScope = 'full' | 'send'

/** The authenticated caller. Every query a request makes is scoped by `accountId`. */
export interface Principal {
  accountId: string
  apiKeyId: string
  keyId: string
  scope: ApiKeyScope
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
