import { Type } from 'typebox'
import { Nullable, Timestamp } from './common.js'

const Part = { maxLength: 1_000_000 }

export const CreateTemplateSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, description: 'Unique in the account; sends may name the template by it' }),
    subject: Type.String({ ...Part, minLength: 1 }),
    text: Type.Optional(Nullable(Type.String(Part))),
    html: Type.Optional(Nullable(Type.String({ ...Part, description: 'Variables are HTML-escaped; {{ x | raw }} opts out' }))),
  },
  { additionalProperties: false },
)

export const EditTemplateSchema = Type.Object(
  {
    subject: Type.Optional(Type.String({ ...Part, minLength: 1 })),
    text: Type.Optional(Nullable(Type.String(Part))),
    html: Type.Optional(Nullable(Type.String(Part))),
  },
  { additionalProperties: false },
)

export const TemplateSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  version: Type.Integer({ description: 'The version shown' }),
  current_version: Type.Integer(),
  subject: Type.String(),
  text: Nullable(Type.String()),
  html: Nullable(Type.String()),
  variables: Type.Array(Type.String(), { description: 'Top-level variables the template uses' }),
  created_at: Timestamp,
  updated_at: Timestamp,
})

export const TemplateParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100, description: 'Id or name' }) })

export const TemplateVersionQuerySchema = Type.Object(
  { version: Type.Optional(Type.Integer({ minimum: 1 })) },
  { additionalProperties: false },
)

export const RenderTemplateSchema = Type.Object(
  {
    variables: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    version: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
)

export const RenderedSchema = Type.Object({
  template_id: Type.String(),
  version: Type.Integer(),
  subject: Type.String(),
  text: Nullable(Type.String()),
  html: Nullable(Type.String()),
})
