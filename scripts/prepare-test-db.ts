// Rebuilds the test template database from the migrations, and drops per-file databases left
// behind by an interrupted run. Test files clone the template (test/helpers/env.ts).
import pg from 'pg'
import { migrate } from '../src/infra/migrator.js'
import { MIGRATIONS_DIR } from '../src/lib/paths.js'

const url = new URL(process.env.TEST_DATABASE_URL ?? 'postgresql://hikyaku:hikyaku@127.0.0.1:5432/hikyaku_test')
const template = url.pathname.slice(1)
const adminUrl = new URL(url)
adminUrl.pathname = '/postgres'

const admin = new pg.Client({ connectionString: adminUrl.toString() })
await admin.connect()
try {
  const { rows } = await admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'hikyaku\\_t\\_%'")
  for (const row of rows) await admin.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`)
  await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`)
  await admin.query(`CREATE DATABASE "${template}"`)
} finally {
  await admin.end()
}
const { applied } = await migrate(url.toString(), MIGRATIONS_DIR)
process.stdout.write(`test template ${template}: ${applied.length} migrations applied\n`)
