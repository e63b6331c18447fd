import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Liquid } from 'liquidjs'

/**
 * The dashboard's templates and stylesheet sit beside this module: in src/ under tsx, and in
 * dist/, where the build copies them (scripts/copy-assets.mjs), when compiled.
 */
export const DASHBOARD_DIR = fileURLToPath(new URL('.', import.meta.url))

/**
 * Every `{{ }}` is HTML-escaped unless marked `| raw` (only markup this code built, such as the
 * charts). Templates come from the package only, never from a request.
 */
const engine = new Liquid({
  root: join(DASHBOARD_DIR, 'views'),
  extname: '.liquid',
  outputEscape: 'escape',
  cache: true,
  strictFilters: true,
  ownPropertyOnly: true,
})

export const renderView = (view: string, context: Record<string, unknown>): Promise<string> => engine.renderFile(view, context)
