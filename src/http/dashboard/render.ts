import { join } from 'node:path'
import { Liquid } from 'liquidjs'
import { PACKAGE_ROOT } from '../../lib/paths.js'

/** The dashboard's templates and assets ship in the package, beside this code's source. */
export const DASHBOARD_DIR = join(PACKAGE_ROOT, 'src', 'http', 'dashboard')

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
