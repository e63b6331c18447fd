import { type TSchema, Type } from 'typebox'

export const ErrorResponseSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code, e.g. validation_failed' }),
      message: Type.String({ description: 'What went wrong and what to do about it' }),
      details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
    }),
    request_id: Type.String(),
  },
  { $id: 'ErrorResponse', description: 'Every error has this shape.' },
)

export const errorRef = Type.Ref('ErrorResponse')

/** The error responses a route may give, keyed by status. */
export const errors = (...statuses: number[]): Record<number, TSchema> => Object.fromEntries(statuses.map((status) => [status, errorRef]))

export const IdParamsSchema = Type.Object({ id: Type.String({ format: 'uuid' }) })

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

export const Timestamp = Type.String({ format: 'date-time' })

export const LimitQuery = Type.Integer({ minimum: 1, maximum: 100, default: 20 })

export const Cursor = Type.String({ maxLength: 200, description: 'next_cursor of the previous page' })
