// Part of `npm run build`: the files the compiled code reads at run time that tsc does not emit
// (the dashboard's templates and stylesheet) are copied beside it in dist/, so a deployment that
// ships only dist/ (the Docker image) has them.
import { cpSync, rmSync, writeFileSync } from 'node:fs'

const out = process.argv[2] ?? 'dist'
for (const dir of ['http/dashboard/views', 'http/dashboard/static']) {
  rmSync(`${out}/${dir}`, { recursive: true, force: true })
  cpSync(`src/${dir}`, `${out}/${dir}`, { recursive: true })
}
// What start.sh and bench.sh compare src/ with: tsc rewrites only the files that changed.
writeFileSync(`${out}/.built`, `${new Date().toISOString()}\n`)
