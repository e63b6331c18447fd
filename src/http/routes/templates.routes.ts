import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { validationFailed } from '../../lib/errors.js'
import type { TemplateVersionView } from '../../modules/templates/template.repository.js'
import type { TemplateService } from '../../modules/templates/template.service.js'
import { cursorId, nextCursor } from '../presenters.js'
import { errors } from '../schemas/common.js'
import { PageQuerySchema, page } from '../schemas/emails.js'
import {
  CreateTemplateSchema,
  EditTemplateSchema,
  RenderedSchema,
  RenderTemplateSchema,
  TemplateParamsSchema,
  TemplateSchema,
  TemplateVersionQuerySchema,
} from '../schemas/templates.js'

export interface TemplateRoutesOptions {
  templates: TemplateService
}

const present = (t: TemplateVersionView & { variables: string[] }) => ({
  id: t.id,
  name: t.name,
  version: t.version,
  current_version: t.currentVersion,
  subject: t.subject,
  text: t.text,
  html: t.html,
  variables: t.variables,
  created_at: t.createdAt.toISOString(),
  updated_at: t.updatedAt.toISOString(),
})

const UuidParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

export const templateRoutes: FastifyPluginAsyncTypebox<TemplateRoutesOptions> = async (app, { templates }) => {
  app.post(
    '/templates',
    {
      schema: {
        tags: ['templates'],
        summary: 'Create a template (Liquid: {{ name }}, {% if %}, {% for %})',
        body: CreateTemplateSchema,
        response: { 201: TemplateSchema, ...errors(401, 403, 409, 422, 429) },
      },
    },
    async (request, reply) => reply.status(201).send(present(await templates.create(request.principal.accountId, request.body))),
  )

  app.get(
    '/templates',
    {
      schema: {
        tags: ['templates'],
        summary: 'List templates (their current versions), newest first',
        querystring: PageQuerySchema,
        response: { 200: page(TemplateSchema), ...errors(401, 403, 422, 429) },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20
      const rows = await templates.list(request.principal.accountId, cursorId(request.query.cursor), limit)
      return { data: rows.map(present), next_cursor: nextCursor(rows, limit) }
    },
  )

  app.get(
    '/templates/:id',
    {
      schema: {
        tags: ['templates'],
        summary: 'A template by id or name, at its current version or ?version=',
        params: TemplateParamsSchema,
        querystring: TemplateVersionQuerySchema,
        response: { 200: TemplateSchema, ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request) => present(await templates.get(request.principal.accountId, request.params.id, request.query.version)),
  )

  app.patch(
    '/templates/:id',
    {
      schema: {
        tags: ['templates'],
        summary: 'Edit a template: makes a new version (sends already accepted keep theirs)',
        params: UuidParams,
        body: EditTemplateSchema,
        response: { 200: TemplateSchema, ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request) => present(await templates.edit(request.principal.accountId, request.params.id, request.body)),
  )

  app.delete(
    '/templates/:id',
    {
      schema: {
        tags: ['templates'],
        summary: 'Delete a template',
        params: UuidParams,
        response: { 204: Type.Null(), ...errors(401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      await templates.remove(request.principal.accountId, request.params.id)
      return reply.status(204).send(null)
    },
  )

  app.post(
    '/templates/:id/render',
    {
      schema: {
        tags: ['templates'],
        summary: 'Render a template with variables (a preview; nothing is sent)',
        params: TemplateParamsSchema,
        body: RenderTemplateSchema,
        response: { 200: RenderedSchema, ...errors(401, 403, 404, 422, 429) },
      },
    },
    async (request) => {
      const { template, result } = await templates.render(request.principal.accountId, request.params.id, request.body.variables ?? {}, {
        version: request.body.version,
        path: '/params/id',
      })
      if (!result.ok) throw validationFailed(result.details)
      return {
        template_id: template.id,
        version: template.version,
        subject: result.subject,
        text: result.text ?? null,
        html: result.html ?? null,
      }
    },
  )
}
