import { withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { uuidv7 } from '../../lib/uuid.js'

/** One version of a template, with the template's own fields. */
export interface TemplateVersionView {
  id: string
  name: string
  version: number
  currentVersion: number
  subject: string
  text: string | null
  html: string | null
  createdAt: Date
  updatedAt: Date
}

interface Row {
  id: string
  name: string
  version: number
  current_version: number
  subject: string
  text: string | null
  html: string | null
  created_at: Date
  updated_at: Date
}

const view = (r: Row): TemplateVersionView => ({
  id: r.id,
  name: r.name,
  version: r.version,
  currentVersion: r.current_version,
  subject: r.subject,
  text: r.text,
  html: r.html,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
})

const SELECT = `SELECT t.id, t.name, v.version, t.current_version, v.subject, v.text, v.html, t.created_at, t.updated_at
  FROM templates t JOIN template_versions v ON v.template_id = t.id`

export interface TemplateContent {
  subject: string
  text: string | null
  html: string | null
}

export function createTemplateRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    /** A new template at version 1; undefined when the account already has one of that name. */
    async create(accountId: string, name: string, content: TemplateContent): Promise<TemplateVersionView | undefined> {
      return withTransaction(pool, async (client) => {
        const id = uuidv7()
        const { rowCount } = await client.query(
          `INSERT INTO templates (id, account_id, name, current_version) VALUES ($1, $2, $3, 1)
           ON CONFLICT (account_id, name) DO NOTHING`,
          [id, accountId, name],
        )
        if (rowCount === 0) return undefined
        await client.query('INSERT INTO template_versions (template_id, version, subject, text, html) VALUES ($1, 1, $2, $3, $4)', [
          id,
          content.subject,
          content.text,
          content.html,
        ])
        const { rows } = await client.query<Row>(`${SELECT} WHERE t.id = $1 AND v.version = 1`, [id])
        return rows[0] && view(rows[0])
      })
    },

    /**
     * A template of the account by id or by name, at `version` (its current one when absent);
     * a deleted template is not found.
     */
    async find(accountId: string, ref: { id?: string; name?: string }, version?: number): Promise<TemplateVersionView | undefined> {
      const { rows } = await pool.query<Row>(
        `${SELECT} WHERE t.account_id = $1 AND t.deleted_at IS NULL AND (t.id = $2::uuid OR t.name = $3)
            AND v.version = coalesce($4::int, t.current_version)`,
        [accountId, ref.id ?? null, ref.name ?? null, version ?? null],
      )
      return rows[0] && view(rows[0])
    },

    async list(accountId: string, before: string | undefined, limit: number): Promise<TemplateVersionView[]> {
      const { rows } = await pool.query<Row>(
        `${SELECT} WHERE t.account_id = $1 AND t.deleted_at IS NULL AND v.version = t.current_version
            AND ($2::uuid IS NULL OR t.id < $2) ORDER BY t.id DESC LIMIT $3`,
        [accountId, before ?? null, limit],
      )
      return rows.map(view)
    },

    /**
     * Adds a version made from the current one by `change` (given the current content), and makes
     * it current. The template row is locked, so two edits make two versions, one after the other.
     */
    async edit(
      accountId: string,
      id: string,
      change: (current: TemplateContent) => TemplateContent,
    ): Promise<TemplateVersionView | undefined> {
      return withTransaction(pool, async (client) => {
        const { rows: locked } = await client.query<Row>(
          `${SELECT} WHERE t.id = $1 AND t.account_id = $2 AND t.deleted_at IS NULL AND v.version = t.current_version FOR UPDATE OF t`,
          [id, accountId],
        )
        const current = locked[0]
        if (!current) return undefined
        const next = change({ subject: current.subject, text: current.text, html: current.html })
        const version = current.current_version + 1
        await client.query('INSERT INTO template_versions (template_id, version, subject, text, html) VALUES ($1, $2, $3, $4, $5)', [
          id,
          version,
          next.subject,
          next.text,
          next.html,
        ])
        await client.query('UPDATE templates SET current_version = $2, updated_at = now() WHERE id = $1', [id, version])
        const { rows } = await client.query<Row>(`${SELECT} WHERE t.id = $1 AND v.version = $2`, [id, version])
        return rows[0] && view(rows[0])
      })
    },

    /** Deletes a template (kept for the emails that used it; its name becomes free). */
    async remove(accountId: string, id: string): Promise<boolean> {
      const { rowCount } = await pool.query(
        `UPDATE templates SET deleted_at = now(), name = name || ' (deleted ' || id || ')'
          WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL`,
        [id, accountId],
      )
      return (rowCount ?? 0) > 0
    },
  })
}

export type TemplateRepository = ReturnType<typeof createTemplateRepository>
