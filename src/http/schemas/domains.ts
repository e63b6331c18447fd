import { Type } from 'typebox'
import { Cursor, LimitQuery, Nullable, Timestamp } from './common.js'

export const DnsRecordSchema = Type.Object({
  type: Type.Enum(['TXT', 'MX', 'CNAME'] as const),
  name: Type.String({ description: 'Where to publish the record (fully qualified)' }),
  value: Type.String({ description: 'What to publish; MX values are "<preference> <host>"' }),
  purpose: Type.Enum(['spf', 'dkim', 'dkim-ed25519', 'dmarc', 'return-path'] as const),
  status: Type.Enum(['pending', 'found', 'missing', 'mismatched'] as const, {
    description: 'Verdict of the last verification; pending before the first one, or when DNS gave no answer',
  }),
  seen: Type.Optional(Type.Array(Type.String(), { description: 'What DNS answered instead, when mismatched' })),
  error: Type.Optional(Type.String({ description: 'Why the last check could not decide' })),
})

export const DomainSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.Enum(['pending', 'verified', 'failed'] as const, {
    description: 'verified once SPF and DKIM are found; failed when the last check found either missing or different',
  }),
  dkim_selector: Type.String(),
  return_path_domain: Type.String({ description: 'Envelope sender (bounce) domain' }),
  records: Type.Array(DnsRecordSchema),
  verified_at: Nullable(Timestamp),
  checked_at: Nullable(Timestamp),
  created_at: Timestamp,
})

export const CreateDomainBodySchema = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 253, description: 'The domain mail is sent from, e.g. example.com' }) },
  { additionalProperties: false },
)

export const ListDomainsQuerySchema = Type.Object(
  { limit: Type.Optional(LimitQuery), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
)

export const DomainPageSchema = Type.Object({ data: Type.Array(DomainSchema), next_cursor: Nullable(Type.String()) })

export const DeletedDomainSchema = Type.Object({ id: Type.String(), deleted: Type.Literal(true) })

export const SendingHostSchema = Type.Object({
  helo_name: Type.String({ description: 'HELO_NAME, the name Hikyaku gives itself to receivers' }),
  helo_addresses: Type.Array(Type.String(), { description: "HELO_NAME's A and AAAA addresses" }),
  addresses: Type.Array(
    Type.Object({
      address: Type.String({ description: 'MX_SOURCE_ADDRESS when set, else one of HELO_NAME’s addresses' }),
      ptr: Type.Array(Type.String(), { description: 'Its PTR names' }),
      status: Type.Enum(['ok', 'not_helo', 'unconfirmed', 'missing', 'unknown'] as const, {
        description:
          'ok: a PTR name resolves back to the address and is HELO_NAME; not_helo: confirmed, but another name; unconfirmed: no PTR name resolves back; missing: no PTR record; unknown: DNS gave no answer',
      }),
    }),
  ),
  status: Type.Enum(['ok', 'warning'] as const),
  advice: Type.Array(Type.String(), { description: 'What to publish or change, one line each' }),
})

export const VerifiedDomainSchema = Type.Object({
  ...DomainSchema.properties,
  warnings: Type.Array(Type.String(), {
    description: 'What is worth fixing that does not decide verification: no DMARC record, the sending host’s reverse DNS',
  }),
  sending_host: Type.Optional(SendingHostSchema),
})
