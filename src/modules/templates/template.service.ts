import { AppError, type ErrorDetail, notFound, validationFailed } from '../../lib/errors.js'
import { isUuid } from '../../lib/uuid.js'
import { checkTemplate, type RenderResult, renderTemplate, templateVariables } from './template.render.js'
import type { TemplateContent, TemplateRepository, TemplateVersionView } from './template.repository.js'

export interface TemplateInput {
  name?: unknown
  subject?: unknown
  text?: unknown
  html?: unknown
}

const MAX_PART_CHARS = 1_000_000
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/

/** A template as the API shows it: the version's content and the variables it uses. */
export const withVariables = (t: TemplateVersionView) => ({ ...t, variables: templateVariables(t) })

/** The template a send names, and what rendering it for one set of variables gave. */
export interface Rendered {
  template: { id: string; version: number }
  result: RenderResult
}

/**
 * Templates (Liquid): every edit adds a version, a send records the version it used, HTML output
 * is escaped unless a variable is marked `| raw`, and a variable the template uses but the send
 * does not give is an error, never a blank.
 */
export function createTemplateService(deps: { repository: TemplateRepository }) {
  const { repository } = deps

  function content(input: TemplateInput, base: TemplateContent | undefined, details: ErrorDetail[]): TemplateContent {
    const part = (key: 'subject' | 'text' | 'html'): string | null | undefined => {
      const value = input[key]
      if (value === undefined) return base ? base[key] : undefined
      if (value === null && key !== 'subject') return null
      if (typeof value !== 'string' || value.length > MAX_PART_CHARS) {
        details.push({ path: `/${key}`, message: `must be a string of at most ${MAX_PART_CHARS} characters` })
        return undefined
      }
      return value
    }
    const next = { subject: part('subject') ?? '', text: part('text') ?? null, html: part('html') ?? null }
    if (details.length === 0) details.push(...checkTemplate(next))
    return next
  }

  /** A template reference: its id (a UUID) or its name. */
  const ref = (value: string) => (isUuid(value) ? { id: value.toLowerCase() } : { name: value })

  return {
    async create(accountId: string, input: TemplateInput) {
      const details: ErrorDetail[] = []
      const name = typeof input.name === 'string' ? input.name.trim() : ''
      if (!NAME_RE.test(name) || isUuid(name)) {
        details.push({ path: '/name', message: 'a name of 1-100 letters, digits, spaces, ".", "_" or "-" is required (not a UUID)' })
      }
      const next = content(input, undefined, details)
      if (details.length > 0) throw validationFailed(details)
      const created = await repository.create(accountId, name, next)
      if (!created) throw new AppError('conflict', `A template named "${name}" exists already; edit it (PATCH) to make a new version.`)
      return withVariables(created)
    },

    async get(accountId: string, idOrName: string, version?: number) {
      const found = await repository.find(accountId, ref(idOrName), version)
      if (!found) throw notFound(version ? `Version ${version} of the template` : 'Template')
      return withVariables(found)
    },

    list: async (accountId: string, before: string | undefined, limit: number) =>
      (await repository.list(accountId, before, limit)).map(withVariables),

    async edit(accountId: string, id: string, input: TemplateInput) {
      const details: ErrorDetail[] = []
      if (input.name !== undefined) details.push({ path: '/name', message: 'a template keeps its name; create a new template instead' })
      const edited = await repository.edit(accountId, id, (current) => {
        const next = content(input, current, details)
        if (details.length > 0) throw validationFailed(details)
        return next
      })
      if (!edited) throw notFound('Template')
      return withVariables(edited)
    },

    async remove(accountId: string, id: string): Promise<void> {
      if (!(await repository.remove(accountId, id))) throw notFound('Template')
    },

    /**
     * Renders a template of the account for one set of variables (the preview, and every send
     * that names a template). A template that does not exist is reported at `path`.
     */
    async render(
      accountId: string,
      idOrName: string,
      variables: Record<string, unknown>,
      options: { version?: number; path?: string } = {},
    ) {
      const found = await repository.find(accountId, ref(idOrName), options.version)
      if (!found) {
        throw validationFailed([{ path: options.path ?? '/template', message: 'no such template (or version) in this account' }])
      }
      return { template: { id: found.id, version: found.version }, result: renderTemplate(found, variables) } satisfies Rendered
    },

    /** The template itself, for a caller that renders it many times (a batch). */
    async load(accountId: string, idOrName: string, version?: number): Promise<TemplateVersionView | undefined> {
      return repository.find(accountId, ref(idOrName), version)
    },
  }
}

export type TemplateService = ReturnType<typeof createTemplateService>
