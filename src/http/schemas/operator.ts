import { Type } from 'typebox'
import { MAX_ACCOUNT_NAME_CHARS, MAX_SUSPEND_REASON_CHARS } from '../../modules/accounts/account.text.js'
import { ApiKeySchema, ApiKeyScopeSchema } from './api-keys.js'
import { Cursor, LimitQuery, Nullable, Timestamp } from './common.js'

/** The largest quota taken: far above any real sending volume, well inside a JSON number. */
export const MAX_QUOTA = 1_000_000_000

const QuotaSchema = Type.Object({
  day: Type.Optional(Type.Integer({ minimum: 0, description: 'Recipients per UTC day' })),
  month: Type.Optional(Type.Integer({ minimum: 0, description: 'Recipients per UTC month' })),
})

export const QuotasSchema = Type.Record(Type.String(), QuotaSchema, {
  description: "The account's own quotas per stream; a stream not named has its default from STREAMS",
})

export const OperatorAccountSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Timestamp,
  suspended: Type.Boolean({ description: "The account's keys are refused and its queued mail is held" }),
  suspended_at: Nullable(Timestamp),
  suspended_reason: Nullable(Type.String({ description: 'For operators; never shown to the account' })),
  quotas: QuotasSchema,
  retention: Type.Object(
    {
      body_days: Nullable(Type.Integer({ description: 'Days ended mail keeps its bodies and attachments (null: RETENTION_BODIES)' })),
      metadata_days: Nullable(
        Type.Integer({ description: 'Days ended mail keeps its recipients, attempts and events (null: RETENTION_METADATA)' }),
      ),
    },
    { description: "The account's own retention" },
  ),
})

// The schemas bound the bytes read; the services count characters (code points) after trimming.
export const CreateAccountBodySchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: MAX_ACCOUNT_NAME_CHARS * 2,
      description: `At most ${MAX_ACCOUNT_NAME_CHARS} characters, one line`,
    }),
  },
  { additionalProperties: false },
)

export const CreatedAccountSchema = Type.Object({
  account: OperatorAccountSchema,
  key: Type.String({ description: "The account's first full-access API key, shown this once" }),
  api_key: ApiKeySchema,
})

export const ACCOUNTS_PAGE_DEFAULT = 20

export const ListAccountsQuerySchema = Type.Object(
  {
    limit: Type.Optional(LimitQuery),
    cursor: Type.Optional(Cursor),
    q: Type.Optional(Type.String({ maxLength: MAX_ACCOUNT_NAME_CHARS, description: 'Part of the name, in any case' })),
  },
  { additionalProperties: false },
)

export const AccountPageSchema = Type.Object({ data: Type.Array(OperatorAccountSchema), next_cursor: Nullable(Type.String()) })

export const RetentionBodySchema = Type.Object(
  {
    body_days: Nullable(Type.Integer({ minimum: 1, maximum: 3650, description: 'null: the default (RETENTION_BODIES)' })),
    metadata_days: Nullable(Type.Integer({ minimum: 1, maximum: 3650, description: 'null: the default (RETENTION_METADATA)' })),
  },
  { additionalProperties: false },
)

export const SuspendBodySchema = Type.Object(
  {
    reason: Type.String({
      minLength: 1,
      maxLength: MAX_SUSPEND_REASON_CHARS * 2,
      description: `Why, for operators (at most ${MAX_SUSPEND_REASON_CHARS} characters, one line); the account is not shown it`,
    }),
  },
  { additionalProperties: false },
)

export const QuotaParamsSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  stream: Type.String({ maxLength: 64, description: 'A configured stream (STREAMS)' }),
})

export const SetQuotaBodySchema = Type.Object(
  {
    day: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_QUOTA, description: 'Recipients per UTC day' })),
    month: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_QUOTA, description: 'Recipients per UTC month' })),
  },
  { additionalProperties: false },
)

export const AccountQuotasSchema = Type.Object({ account_id: Type.String(), quotas: QuotasSchema })

export const OperatorCreateKeyBodySchema = Type.Object(
  {
    scope: ApiKeyScopeSchema,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
)
