import { Type } from 'typebox'
import { Cursor, Nullable, Timestamp } from './common.js'

export const ApiKeyScopeSchema = Type.Enum(['full', 'send'] as const)

export const ApiKeySchema = Type.Object({
  id: Type.String(),
  name: Nullable(Type.String()),
  scope: ApiKeyScopeSchema,
  hint: Type.String({ description: 'Recognisable prefix; never the secret' }),
  created_at: Timestamp,
  last_used_at: Nullable(Timestamp),
  revoked_at: Nullable(Timestamp),
})

export const CreateApiKeyBodySchema = Type.Object(
  {
    scope: Type.Optional(ApiKeyScopeSchema),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
)

export const CreatedApiKeySchema = Type.Object({
  key: Type.String({ description: 'The secret key, shown this once' }),
  api_key: ApiKeySchema,
})

/** Keys are few: one page holds the most a list allows by default, as the list did before it was paged. */
export const API_KEYS_PAGE_DEFAULT = 100

export const ListApiKeysQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: API_KEYS_PAGE_DEFAULT })),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
)

export const ApiKeyPageSchema = Type.Object({ data: Type.Array(ApiKeySchema), next_cursor: Nullable(Type.String()) })
