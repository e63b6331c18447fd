import type { ExampleSet } from '../types.js'

/** The examples of one operation: its request body and its success responses, by media type. */
export interface OperationExamples {
  /** Request body examples by media type. */
  request?: Record<string, ExampleSet>
  /** Success response examples by status, then media type. */
  responses?: Record<string, Record<string, ExampleSet>>
}

/** One named example. */
export const example = (name: string, summary: string, value: unknown): ExampleSet => ({ [name]: { summary, value } })

/** Examples of a JSON body. */
export const json = (...sets: ExampleSet[]): Record<string, ExampleSet> => ({ 'application/json': Object.assign({}, ...sets) })
