// Prisma's WASM schema engine (@prisma/schema-engine-wasm), driven offline: diffs the migration
// history against schema.prisma, for `npm run db:diff` and the drift test. The native engine the
// Prisma CLI downloads is not needed. `diff` from `{ tag: 'migrations' }` to
// `{ tag: 'schemaDatamodel' }` exits 2 with the SQL when they differ, 0 when in sync; it replays
// the history in a shadow database, so the role needs CREATE DATABASE. (`createMigration` does not
// work in the WASM build.) Using it from Node 20 with @prisma/adapter-pg hits six pitfalls; each
// workaround below is marked with its number:
//   1. adapter-pg cannot read Postgres's internal `"char"` type (OID 18) in catalog queries.
//   2. adapter-pg's executeScript splits scripts on `;` (breaks `$$` bodies, loses atomicity).
//   3. A connection string given to PrismaPg would also be used for the shadow database.
//   4. adapter-pg drops the shadow database while its pool still holds connections.
//   5. The engine arms timers it never clears and never disposes its connection: the process lingers.
//   6. Driver errors surface as "External error id#N"; the real error is in the adapter's registry.
// The wasm module is instantiated by hand, since the package entry imports a .wasm file.
import { randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { PrismaPg } from '@prisma/adapter-pg'
import {
  bindMigrationAwareSqlAdapterFactory,
  ColumnTypeEnum,
  DriverAdapterError,
  type ErrorRegistry,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
  type SqlQueryable,
  type SqlResultSet,
} from '@prisma/driver-adapter-utils'
import type { MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg'
import * as glue from '@prisma/schema-engine-wasm/schema_engine_bg'
import pg from 'pg'

export interface DbConfig {
  host: string
  port: number
  user: string
  password?: string
  database: string
}

export function parseDatabaseUrl(url: string): DbConfig {
  const u = new URL(url)
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
    throw new Error(`not a PostgreSQL URL: ${u.protocol}//…`)
  }
  const db: DbConfig = {
    host: decodeURIComponent(u.hostname) || '127.0.0.1',
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || 'postgres',
    database: decodeURIComponent(u.pathname.slice(1)) || 'postgres',
  }
  if (u.password) db.password = decodeURIComponent(u.password)
  return db
}

// --- The engine: instantiated by hand, once per process ------------------------------------------

// The tsconfig's lib (ES2023, no DOM) has no WebAssembly types; this is the little we use.
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly
interface WasmApi {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> }
}

let lastPanic: string | undefined
let enginePromise: Promise<typeof glue.SchemaEngine> | undefined

// The package entry does `import * as wasm from "./schema_engine_bg.wasm"`, which Node 20 cannot
// load, so instantiate the module ourselves and hand its exports to the JS glue.
function loadEngine(): Promise<typeof glue.SchemaEngine> {
  enginePromise ??= (async () => {
    // The glue calls this on a Rust panic; without it a panic is only "RuntimeError: unreachable".
    ;(globalThis as Record<string, unknown>).PRISMA_WASM_PANIC_REGISTRY = {
      set_message(message: string) {
        lastPanic = message
      },
    }
    const gluePath = createRequire(import.meta.url).resolve('@prisma/schema-engine-wasm/schema_engine_bg')
    const bytes = await readFile(join(dirname(gluePath), 'schema_engine_bg.wasm'))
    const imports: Record<string, unknown> = { ...glue }
    for (const [name, fn] of Object.entries(glue)) {
      // Pitfall 5: timers the engine arms (10 s) are never cleared; unref them so they cannot
      // keep the process alive after the work is done.
      if (name.startsWith('__wbg_setTimeout_') && typeof fn === 'function') {
        const setTimer = fn as (...args: unknown[]) => { unref?: () => void }
        imports[name] = (...args: unknown[]) => {
          const timer = setTimer(...args)
          timer.unref?.()
          return timer
        }
      }
    }
    const instance = new Wasm.Instance(new Wasm.Module(bytes), { './schema_engine_bg.js': imports })
    glue.__wbg_set_wasm(instance.exports)
    ;(instance.exports.__wbindgen_start as () => void)()
    return glue.SchemaEngine
  })()
  return enginePromise
}

// --- The driver adapter: adapter-pg plus the fixes the engine needs -------------------------------

const PG_CHAR_OID = 18 // Postgres's internal one-byte `"char"` type (pg_class.relkind and friends)
const PG_TEXT_OID = 25
const charColumns = new WeakMap<unknown[], number[]>()

// Pitfall 1: adapter-pg has no mapping for OID 18 and throws "Column type 'char' could not be
// deserialized" on the catalog queries the engine's describer runs. Every client of our pools
// relabels such columns as text (so adapter-pg accepts them) and remembers which they were, keyed
// by the rows array, which adapter-pg passes through unchanged; `reportCharColumns` then reports
// them as Character (Text would make the engine panic on PostgreSQL 18).
function relabelCharColumns(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown
  const relabel = (res: pg.QueryResult | undefined) => {
    const indexes: number[] = []
    res?.fields?.forEach((field, i) => {
      if (field.dataTypeID === PG_CHAR_OID) {
        field.dataTypeID = PG_TEXT_OID
        indexes.push(i)
      }
    })
    if (res && indexes.length > 0) charColumns.set(res.rows, indexes)
    return res
  }
  client.query = ((...args: unknown[]) => {
    const callback = args.at(-1)
    if (typeof callback === 'function') {
      // pg.Pool#query calls its client with a callback.
      args[args.length - 1] = (err: unknown, res: pg.QueryResult) => callback(err, relabel(res))
      return query(...args)
    }
    const out = query(...args)
    return out instanceof Promise ? out.then(relabel) : out
  }) as typeof client.query
}

function reportCharColumns<T extends SqlQueryable>(queryable: T): T {
  const queryRaw = queryable.queryRaw.bind(queryable)
  queryable.queryRaw = async (query): Promise<SqlResultSet> => {
    const result = await queryRaw(query)
    for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = ColumnTypeEnum.Character
    return result
  }
  return queryable
}

// Pitfall 2: adapter-pg's executeScript splits on `;`, which breaks `$$` bodies and makes a
// migration non-atomic. One simple-protocol query runs the whole script as one implicit
// transaction, exactly like `prisma migrate deploy` and our own runner.
async function runScript(pool: pg.Pool, script: string): Promise<void> {
  try {
    await pool.query(script)
  } catch (e) {
    // Report it as adapter-pg would, so the engine prints the database's own message.
    if (e instanceof pg.DatabaseError) {
      throw new DriverAdapterError({
        kind: 'postgres',
        code: e.code ?? '',
        severity: e.severity ?? 'ERROR',
        message: e.message,
        detail: e.detail,
        column: e.column,
        hint: e.hint,
      })
    }
    throw e
  }
}

async function openAdapter(db: DbConfig, onDispose?: () => Promise<void>): Promise<SqlDriverAdapter> {
  // Pitfall 3: discrete settings, never a connection string (a string would win over `database`).
  const adapter = await new PrismaPg({ ...db }).connect()
  const pool = adapter.underlyingDriver()
  pool.on('connect', relabelCharColumns)
  reportCharColumns(adapter)
  adapter.executeScript = (script) => runScript(pool, script)
  const startTransaction = adapter.startTransaction.bind(adapter)
  adapter.startTransaction = async (level) => reportCharColumns(await startTransaction(level))
  const dispose = adapter.dispose.bind(adapter)
  let disposed: Promise<void> | undefined
  adapter.dispose = () => {
    disposed ??= dispose().then(() => onDispose?.()) // ends the pool first, then e.g. drops the db
    return disposed
  }
  return adapter
}

class MigrationAdapterFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres'
  readonly adapterName = '@prisma/adapter-pg'
  private readonly open = new Set<SqlDriverAdapter>()
  constructor(private readonly db: DbConfig) {}

  async connect(): Promise<SqlDriverAdapter> {
    return this.track(await openAdapter(this.db))
  }

  // Pitfall 4: adapter-pg drops the shadow database while its own pool still holds connections
  // ("being accessed by other users") and never closes the connection it created it with. Here the
  // shadow pool is closed first, then the database is dropped and the admin connection closed.
  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    const name = `prisma_migrate_shadow_db_${randomUUID()}`
    const admin = new pg.Client({ ...this.db })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE "${name}"`)
    } catch (e) {
      await admin.end()
      throw e
    }
    const shadow = await openAdapter({ ...this.db, database: name }, async () => {
      try {
        await admin.query(`DROP DATABASE IF EXISTS "${name}"`)
      } finally {
        await admin.end()
      }
    })
    return this.track(shadow)
  }

  // Pitfall 5 (continued): the engine never disposes the main connection, and an open pool keeps
  // the process alive (pg's idle timeout is 10 s), so whatever is still open is disposed here.
  async close(): Promise<void> {
    await Promise.allSettled([...this.open].map((a) => a.dispose()))
  }

  private track(adapter: SqlDriverAdapter): SqlDriverAdapter {
    this.open.add(adapter)
    const dispose = adapter.dispose.bind(adapter)
    adapter.dispose = () => {
      this.open.delete(adapter)
      return dispose()
    }
    return adapter
  }
}

// --- The diff -------------------------------------------------------------------------------------

/** What Prisma writes to prisma/migrations/migration_lock.toml for PostgreSQL. */
export const MIGRATION_LOCK = `# Please do not edit this file manually
# It should be added in your version-control system (e.g., Git)
provider = "postgresql"
`

// Reads the migrations directory the way the Prisma CLI does (a missing directory is no migrations).
async function readMigrationList(migrationsDir: string): Promise<MigrationList> {
  const baseDir = resolve(migrationsDir)
  const lockPath = 'migration_lock.toml'
  // The engine takes its connector from the lock file and refuses to diff without one, which
  // would include the very first diff; the file we would write is the right answer there.
  const lockContent = await readFile(join(baseDir, lockPath), 'utf8').catch(() => MIGRATION_LOCK)
  const entries = await readdir(baseDir, { withFileTypes: true }).catch(() => [])
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name)
  dirs.sort((a, b) => a.localeCompare(b))
  const migrationDirectories = await Promise.all(
    dirs.map(async (path) => ({
      path,
      migrationFile: {
        path: 'migration.sql',
        content: await readFile(join(baseDir, path, 'migration.sql'), 'utf8').then(
          (value) => ({ tag: 'ok' as const, value }),
          (e: Error) => ({ tag: 'error' as const, value: e.message }),
        ),
      },
    })),
  )
  return { baseDir, lockfile: { path: lockPath, content: lockContent }, shadowDbInitScript: '', migrationDirectories }
}

export async function diffMigrationsToSchema(opts: {
  migrationsDir: string
  schemaPath: string
  db: DbConfig
}): Promise<{ inSync: boolean; sql: string }> {
  const [SchemaEngineClass, migrations, schema] = await Promise.all([
    loadEngine(),
    readMigrationList(opts.migrationsDir),
    readFile(opts.schemaPath, 'utf8'),
  ])
  const files = [{ path: opts.schemaPath, content: schema }]
  lastPanic = undefined
  // The engine takes the bound factory itself (not a connection); it replays the history in a
  // shadow database it opens through connectToShadowDb.
  const factory = new MigrationAdapterFactory(opts.db)
  const adapter = bindMigrationAwareSqlAdapterFactory(factory)
  const logs: string[] = []
  let engine: SchemaEngine | undefined
  try {
    engine = await SchemaEngineClass.new(
      { datamodels: files.map((f) => [f.path, f.content]) },
      // Only warnings and errors are worth repeating when something fails.
      (log: string) => !/"level":"(INFO|DEBUG|TRACE)"/.test(log) && logs.push(log),
      adapter,
    )
    const result = await engine.diff({
      // 'migrations' even when there are none: 'empty' would add a CREATE SCHEMA "public".
      from: { tag: 'migrations', ...migrations },
      to: { tag: 'schemaDatamodel', files },
      script: true,
      exitCode: true,
      filters: { externalTables: [], externalEnums: [] },
    })
    if (result.exitCode === 0) return { inSync: true, sql: '' }
    if (result.exitCode === 2 && result.stdout) return { inSync: false, sql: result.stdout }
    throw new Error(`schema engine diff exited with ${result.exitCode}: ${result.stdout ?? ''}`)
  } catch (e) {
    throw explain(e, adapter.errorRegistry, logs)
  } finally {
    engine?.free()
    await factory.close()
  }
}

// Pitfall 6: driver errors reach us as "External error id#N"; the real error is in the registry.
// A Rust panic surfaces as "unreachable"; its message came through PRISMA_WASM_PANIC_REGISTRY.
function explain(e: unknown, registry: ErrorRegistry, logs: string[]): Error {
  let message = e instanceof Error ? e.message : typeof e === 'string' ? e : JSON.stringify(e)
  message = message.replace(/External error id#(\d+)/g, (whole, id: string) => {
    const inner = registry.consumeError(Number(id))?.error
    return inner === undefined ? whole : `${whole} (${inner instanceof Error ? inner.message : String(inner)})`
  })
  if (lastPanic) message += `\nengine panic: ${lastPanic}`
  if (logs.length > 0) message += `\nengine log:\n${logs.join('\n')}`
  return new Error(`schema engine: ${message}`, { cause: e })
}
