import { REPLY_CLASSES, type ReplyClass, type ReplyPhase, type ReplyRule, type RuleScope } from './reply-rules.js'

/** A rule as an operator writes it in SHAPING_CONFIG (`rules`): patterns are strings. */
export interface RuleSpec {
  id: string
  providers?: string[]
  code?: number | [number, number]
  enhanced?: string
  text?: string
  phases?: ReplyPhase[]
  class: ReplyClass
  scope?: RuleScope
  pauseMs?: number
}

const CLASSES: readonly ReplyClass[] = REPLY_CLASSES
const PHASES: ReplyPhase[] = ['dns', 'connect', 'greeting', 'tls', 'auth', 'mail', 'rcpt', 'data', 'after_data', 'done']
/** Patterns are short: a provider's token or phrase, not a grammar. */
const MAX_PATTERN = 200
const MAX_RULES = 200
const NESTED_QUANTIFIER = /\([^()]*[+*}][^()]*\)\s*[+*{]/

const isCode = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 200 && (n as number) <= 599

/** Problems with the `rules` of a SHAPING_CONFIG file (empty when fine). */
export function checkRuleSpecs(value: unknown): string[] {
  if (!Array.isArray(value)) return ['rules must be a list']
  if (value.length > MAX_RULES) return [`rules: at most ${MAX_RULES}`]
  const problems: string[] = []
  for (const [i, spec] of value.entries()) {
    const at = `rules[${i}]`
    if (typeof spec !== 'object' || spec === null) {
      problems.push(`${at} must be an object`)
      continue
    }
    const r = spec as Record<string, unknown>
    for (const k of Object.keys(r))
      if (!['id', 'providers', 'code', 'enhanced', 'text', 'phases', 'class', 'scope', 'pauseMs'].includes(k))
        problems.push(`${at}: unknown key "${k}"`)
    if (typeof r.id !== 'string' || !/^[\w.-]{1,64}$/.test(r.id))
      problems.push(`${at}.id must be 1-64 letters, digits, dots, dashes or underscores`)
    if (!CLASSES.includes(r.class as ReplyClass)) problems.push(`${at}.class must be one of ${CLASSES.join(', ')}`)
    if (r.providers !== undefined && !(Array.isArray(r.providers) && r.providers.every((p) => typeof p === 'string')))
      problems.push(`${at}.providers must be a list of profile names`)
    if (r.code !== undefined && !isCode(r.code) && !(Array.isArray(r.code) && r.code.length === 2 && r.code.every(isCode)))
      problems.push(`${at}.code must be a reply code or a [low, high] range`)
    if (r.phases !== undefined && !(Array.isArray(r.phases) && r.phases.every((p) => PHASES.includes(p))))
      problems.push(`${at}.phases must be a list of ${PHASES.join(', ')}`)
    if (r.scope !== undefined && !['destination', 'recipient_domain', 'sender'].includes(String(r.scope)))
      problems.push(`${at}.scope must be destination, recipient_domain or sender`)
    if (r.pauseMs !== undefined && !(Number.isInteger(r.pauseMs) && (r.pauseMs as number) > 0 && (r.pauseMs as number) <= 7 * 86_400_000))
      problems.push(`${at}.pauseMs must be a whole number of milliseconds, at most 7 days`)
    for (const k of ['enhanced', 'text'] as const) {
      if (r[k] === undefined) continue
      if (typeof r[k] !== 'string' || (r[k] as string).length > MAX_PATTERN)
        problems.push(`${at}.${k} must be a pattern of at most ${MAX_PATTERN} characters`)
      else {
        try {
          new RegExp(r[k] as string, 'i')
          // A remote server writes the text these run on: a quantified group holding a quantifier
          // can take exponential time on a crafted reply.
          if (NESTED_QUANTIFIER.test(r[k] as string)) problems.push(`${at}.${k}: no quantified group holding a quantifier, such as (a+)+`)
        } catch (err) {
          problems.push(`${at}.${k} is not a valid regular expression: ${(err as Error).message}`)
        }
      }
    }
    if (r.code === undefined && r.enhanced === undefined && r.text === undefined)
      problems.push(`${at} must match on code, enhanced or text`)
  }
  return problems
}

/** The operator's rules (checked with `checkRuleSpecs`), as the matcher reads them: case-insensitive patterns. */
export function compileRules(specs: RuleSpec[]): ReplyRule[] {
  return specs.map((s) => ({
    id: s.id,
    class: s.class,
    ...(s.providers ? { providers: s.providers } : {}),
    ...(s.code !== undefined ? { code: s.code } : {}),
    ...(s.enhanced ? { enhanced: new RegExp(s.enhanced, 'i') } : {}),
    ...(s.text ? { text: new RegExp(s.text, 'i') } : {}),
    ...(s.phases ? { phases: s.phases } : {}),
    ...(s.scope ? { scope: s.scope } : {}),
    ...(s.pauseMs ? { pauseMs: s.pauseMs } : {}),
  }))
}
