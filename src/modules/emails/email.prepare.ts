import { AppError, type ErrorDetail } from '../../lib/errors.js'
import { renderTemplate } from '../templates/template.render.js'
import type { TemplateVersionView } from '../templates/template.repository.js'
import type { EmailDraft } from './email.types.js'
import { inspectSendInput, type ValidationLimits } from './email.validate.js'

/** The send fields a template replaces. */
const CONTENT_FIELDS = ['subject', 'text', 'html'] as const
const MAX_VARIABLES_BYTES = 256 * 1024

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Templates named by sends, loaded once per request however many items name them. */
export type TemplateLoader = (ref: string, version: number | undefined) => Promise<TemplateVersionView | undefined>

export function cachedLoader(load: TemplateLoader): TemplateLoader {
  const cache = new Map<string, Promise<TemplateVersionView | undefined>>()
  return (ref, version) => {
    const key = `${ref}\u0000${version ?? ''}`
    let found = cache.get(key)
    if (!found) {
      found = load(ref, version)
      cache.set(key, found)
    }
    return found
  }
}

export interface PreparedDraft {
  draft?: EmailDraft
  details: ErrorDetail[]
  /** A problem that is not a field's: the message is too large (413). */
  tooLarge?: AppError
}

/**
 * One send request (a body, or one item of a batch) made into a draft: a template it names is
 * rendered with its variables first (a variable the template uses but the send does not give
 * is reported at `/variables/<name>`), then every field is checked. Problems are returned, not
 * thrown, so that a batch can list them per item.
 */
export async function prepareDraft(input: unknown, limits: ValidationLimits, loadTemplate: TemplateLoader): Promise<PreparedDraft> {
  const body = isRecord(input) ? input : {}
  let fields: Record<string, unknown> = body
  let template: EmailDraft['template']
  if (body.template !== undefined || body.variables !== undefined) {
    const details: ErrorDetail[] = []
    const ref = body.template
    const version = body.template_version
    if (typeof ref !== 'string' || ref.length < 1 || ref.length > 100)
      details.push({ path: '/template', message: 'a template id or name is required with variables' })
    if (version !== undefined && !(Number.isInteger(version) && (version as number) >= 1)) {
      details.push({ path: '/template_version', message: 'must be a version number (1 or more)' })
    }
    const variables = body.variables ?? {}
    if (!isRecord(variables)) details.push({ path: '/variables', message: 'must be an object of names to values' })
    else if (Buffer.byteLength(JSON.stringify(variables)) > MAX_VARIABLES_BYTES) {
      details.push({ path: '/variables', message: `must be at most ${MAX_VARIABLES_BYTES} bytes as JSON` })
    }
    for (const field of CONTENT_FIELDS) {
      if (body[field] !== undefined)
        details.push({ path: `/${field}`, message: 'comes from the template; leave it out when sending with one' })
    }
    if (details.length > 0 || typeof ref !== 'string') return { details }
    const found = await loadTemplate(ref, version as number | undefined)
    if (!found) return { details: [{ path: '/template', message: 'no such template (or version) in this account' }] }
    const rendered = renderTemplate(found, variables as Record<string, unknown>)
    if (!rendered.ok) return { details: rendered.details }
    const { template: _t, template_version: _v, variables: _vars, ...rest } = body
    fields = { ...rest, subject: rendered.subject, text: rendered.text, html: rendered.html }
    template = { id: found.id, version: found.version }
  } else if (body.subject === undefined) {
    const result = inspected(body, limits)
    return {
      details: [{ path: '/subject', message: 'a subject is required (or a template)' }, ...result.details],
      tooLarge: result.tooLarge,
    }
  }
  const result = inspected(fields, limits)
  if (result.draft && template) result.draft.template = template
  return result
}

function inspected(fields: Record<string, unknown>, limits: ValidationLimits): PreparedDraft {
  try {
    return inspectSendInput(fields, limits)
  } catch (err) {
    if (err instanceof AppError && err.code === 'payload_too_large') return { details: [], tooLarge: err }
    throw err
  }
}
