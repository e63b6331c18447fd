#!/usr/bin/env node
// The `hikyaku` command: runs the compiled CLI (npm install builds it into dist/).
import { existsSync } from 'node:fs'

const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('hikyaku: dist/cli.js is missing; run "npm install" (or "npm run build") first\n')
  process.exit(1)
}
await import(cli.href)
