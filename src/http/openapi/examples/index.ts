import { ACCOUNT_EXAMPLES } from './account.js'
import { CAMPAIGN_EXAMPLES } from './campaigns.js'
import type { OperationExamples } from './define.js'
import { EMAIL_EXAMPLES } from './emails.js'
import { FEEDBACK_EXAMPLES } from './feedback.js'
import { OPERATOR_EXAMPLES } from './operator.js'
import { WEBHOOK_EXAMPLES } from './webhooks.js'

export type { OperationExamples } from './define.js'

const TABLES = [EMAIL_EXAMPLES, ACCOUNT_EXAMPLES, FEEDBACK_EXAMPLES, WEBHOOK_EXAMPLES, CAMPAIGN_EXAMPLES, OPERATOR_EXAMPLES]

/**
 * The written examples, keyed by "METHOD /path" like the operations table. An operation, status or
 * media type without one gets an example made from its schema (schema.ts `exampleFor`).
 */
export const EXAMPLES: Record<string, OperationExamples> = Object.fromEntries(TABLES.flatMap((table) => Object.entries(table)))

/** Keys written in more than one table (the later would silently win). */
export const duplicateExampleKeys = (): string[] => {
  const seen = new Set<string>()
  return TABLES.flatMap((table) => Object.keys(table)).filter((key) => seen.has(key) || !seen.add(key))
}
