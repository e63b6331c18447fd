import { Type } from 'typebox'
import { MAX_IMPORT_ROWS, MAX_NOTE_LENGTH, SUPPRESSION_REASONS, SUPPRESSION_STREAMS } from '../../modules/suppressions/suppression.types.js'
import { Cursor, LimitQuery, Nullable, Timestamp } from './common.js'

const Reason = Type.Enum(SUPPRESSION_REASONS, {
  description: 'hard_bounce and complaint come from the feedback loop; unsubscribe from unsubscribe links; manual by hand',
})
const Stream = Type.Enum(SUPPRESSION_STREAMS)
const Address = Type.String({
  minLength: 1,
  maxLength: 320,
  description: 'A bare address; compared lower-cased',
  examples: ['ada@example.com'],
})

export const SuppressionSchema = Type.Object({
  address: Type.String({ description: 'Lower-cased' }),
  stream: Nullable(Type.String({ description: 'The one stream it applies to; null for every stream of the account' })),
  reason: Reason,
  source: Type.Record(Type.String(), Type.Unknown(), {
    description:
      'What caused it: {"origin":"api","note":…} by hand, {"origin":"import"}, or the email and recipient of a bounce or complaint',
  }),
  expires_at: Nullable(Timestamp),
  created_at: Timestamp,
})

export const SuppressionPageSchema = Type.Object({ data: Type.Array(SuppressionSchema), next_cursor: Nullable(Type.String()) })

export const ListSuppressionsQuerySchema = Type.Object(
  {
    address: Type.Optional(Type.String({ maxLength: 320, description: 'Exactly this address (compared lower-cased)' })),
    domain: Type.Optional(Type.String({ maxLength: 253, description: 'Every address at this domain (not its subdomains)' })),
    reason: Type.Optional(Reason),
    stream: Type.Optional(
      Type.Enum(SUPPRESSION_STREAMS, { description: "Entries that stop this stream's mail: its own and the account-wide ones" }),
    ),
    created_after: Type.Optional(Type.String({ format: 'date-time' })),
    created_before: Type.Optional(Type.String({ format: 'date-time' })),
    limit: Type.Optional(LimitQuery),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
)

export const AddressParamsSchema = Type.Object({ address: Address })

export const StreamQuerySchema = Type.Object(
  {
    stream: Type.Optional(Type.Enum(SUPPRESSION_STREAMS, { description: 'The entry for this stream; without it, the account-wide entry' })),
  },
  { additionalProperties: false },
)

export const AddSuppressionBodySchema = Type.Object(
  {
    address: Address,
    stream: Type.Optional(Nullable(Type.Enum(SUPPRESSION_STREAMS, { description: 'Only this stream; omitted or null: every stream' }))),
    expires_at: Type.Optional(
      Nullable(Type.String({ format: 'date-time', description: 'When it stops applying (in the future); omitted: never' })),
    ),
    note: Type.Optional(Type.String({ maxLength: MAX_NOTE_LENGTH, description: 'Kept in source.note' })),
  },
  { additionalProperties: false },
)

const ImportEntry = Type.Object(
  {
    address: Address,
    reason: Type.Optional(Reason),
    stream: Type.Optional(Nullable(Stream)),
    expires_at: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
    created_at: Type.Optional(Type.String({ description: 'Read past (an export carries it); the import records its own time' })),
    source: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Read past (an export carries it)' })),
  },
  { additionalProperties: false },
)

export const ImportJsonBodySchema = Type.Object(
  { suppressions: Type.Array(ImportEntry, { maxItems: MAX_IMPORT_ROWS }) },
  { additionalProperties: false },
)

export const ImportCsvBodySchema = Type.String({
  description:
    'RFC 4180 CSV with a header line naming its columns: address (required), reason (default manual), stream (empty: every stream), expires_at (empty: never); created_at is read past',
  examples: ['address,reason,stream,expires_at\r\nada@example.com,hard_bounce,,\r\n'],
})

export const ImportResultSchema = Type.Object({
  received: Type.Integer({ description: 'Rows in the request' }),
  created: Type.Integer({ description: 'New entries (or entries renewed after they had expired)' }),
  updated: Type.Integer({ description: 'Existing entries that changed: a manual one given a feedback reason, or a longer expiry' }),
  unchanged: Type.Integer({ description: 'Rows that changed nothing (already on the list, or repeated in the request)' }),
})

export const ExportQuerySchema = Type.Object(
  { format: Type.Optional(Type.Enum(['csv', 'json'] as const, { default: 'csv' })) },
  { additionalProperties: false },
)

export const ExportCsvSchema = Type.String({
  description: 'RFC 4180 CSV: a header line address,reason,stream,expires_at,created_at, then one line per entry',
})

export const ExportJsonSchema = Type.Object({ suppressions: Type.Array(SuppressionSchema) })
