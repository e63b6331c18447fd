import { Type } from 'typebox'
import { Nullable, Timestamp } from './common.js'

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
