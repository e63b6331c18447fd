// `npm run openapi`: writes openapi.yaml from the route schemas. A test fails when the committed
// file and the code disagree, so run this after changing a route.
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { renderOpenApi } from './openapi-render.js'

const target = fileURLToPath(new URL('../openapi.yaml', import.meta.url))
writeFileSync(target, await renderOpenApi())
process.stdout.write(`wrote ${target}\n`)
