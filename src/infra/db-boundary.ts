import pg from 'pg'
import { AppError, unavailable } from '../lib/errors.js'
import { isDatabaseUnavailable, type Pool, type PrismaClient, withConnection } from './db.js'

/**
 * What repositories do with database failures at their edge: a database that cannot be reached
 * or does not answer in time (`isDatabaseUnavailable`, the statement and query timeouts
 * included) becomes `unavailable` (503 / 451), so no service has to know what a pg error looks
 * like. Any other error passes through unchanged.
 */

/**
 * What every repository is built from (`createXRepository(deps)`): the pool for hand-written SQL
 * and the Prisma client over the same pool.
 */
export interface RepositoryDeps {
  pool: Pool
  prisma: PrismaClient
}

export const DATABASE_UNAVAILABLE = 'The database is unavailable; retry shortly.'

/** The error a caller sees: `unavailable` for connection-class failures, the error itself otherwise. */
export function atBoundary(err: unknown): unknown {
  if (err instanceof AppError || !isDatabaseUnavailable(err)) return err
  return unavailable(DATABASE_UNAVAILABLE, 5, err)
}

type Methods = Record<string, (...args: never[]) => Promise<unknown>>

/** The repository with every method's failures passed through `atBoundary`. */
export function guardRepository<T extends Methods>(repository: T): T {
  const guarded: Record<string, unknown> = {}
  for (const [name, method] of Object.entries(repository)) {
    guarded[name] = async (...args: never[]) => {
      try {
        return await method(...args)
      } catch (err) {
        throw atBoundary(err)
      }
    }
  }
  return guarded as T
}

/**
 * A statement that failed with the database unavailable (a reset, a client query timeout, a
 * server that went away), so that whether it committed may be unknown. It says what settling
 * that needs: whether anything was sent at all, and which server process ran it.
 */
export class StatementFailure extends AppError {
  /** False when no connection could be had: nothing was sent, nothing can have committed. */
  readonly sent: boolean
  /** The server process (backend) the statement was sent to, when known. */
  readonly backendPid: number | undefined

  constructor(sent: boolean, backendPid: number | undefined, cause: unknown) {
    super('unavailable', DATABASE_UNAVAILABLE, { retryAfter: 5, cause })
    this.sent = sent
    this.backendPid = backendPid
  }
}

/** The backend process id node-pg learnt at connect (BackendKeyData); not in its type declarations. */
const backendPidOf = (client: pg.ClientBase): number | undefined => {
  const pid = (client as { processID?: unknown }).processID
  return typeof pid === 'number' && pid > 0 ? pid : undefined
}

/**
 * Runs `fn` on one checked-out pooled connection (see `withConnection`), remembering its backend:
 * the same round trips as `pool.query`. When the database becomes unavailable meanwhile, the
 * error is a `StatementFailure` naming that backend (or saying nothing was sent when no
 * connection could be had), and the connection is discarded rather than reused: its backend may
 * be about to be ended (`endBackend`). Other errors pass through.
 */
export async function onPooledConnection<T>(pool: Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let connected = false
  let backendPid: number | undefined
  try {
    return await withConnection(pool, (client) => {
      connected = true
      backendPid = backendPidOf(client)
      return fn(client)
    })
  } catch (err) {
    throw isDatabaseUnavailable(err) ? new StatementFailure(connected, backendPid, err) : err
  }
}

/**
 * The questions asked right after a connection failure go on a connection of their own, opened
 * with the pool's settings and closed after: the pool's idle connections may be dead too (a
 * restarted server), and a fresh one either answers or fails within its (short) timeouts.
 */
const FRESH_QUERY_TIMEOUT_MS = 5_000

export async function withFreshConnection<T>(pool: Pool, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  // Short questions: they get short timeouts whatever the pool allows its own statements.
  const bound = (ms: number | undefined) => Math.min(ms || FRESH_QUERY_TIMEOUT_MS, FRESH_QUERY_TIMEOUT_MS)
  const client = new pg.Client({
    ...pool.options,
    connectionTimeoutMillis: bound(pool.options.connectionTimeoutMillis),
    statement_timeout: bound(pool.options.statement_timeout || undefined),
    query_timeout: bound(pool.options.query_timeout),
  })
  // A connection lost while idle must not become an unhandled 'error' event.
  client.on('error', () => {})
  try {
    await client.connect()
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * Ends a backend (`pg_terminate_backend`) and waits, at most `timeoutMs`, until it has left
 * `pg_stat_activity`. True once it is gone: its transaction is then committed or rolled back
 * for good, and visible as such to every new snapshot (a backend leaves the activity view only
 * after it has aborted its transaction, or finished its commit — one waiting for a synchronous
 * standby stops waiting when told to terminate, its commit already durable locally). False
 * when it is still there at the deadline (a process stuck in I/O acts on the signal only once
 * the I/O returns). Asked with `client`, a connection other than the backend's own.
 *
 * Only the same role (or a superuser, or pg_signal_backend) may end a backend; without that
 * right this fails. A pid is reused only after the process space wraps around, which the few
 * seconds this runs do not allow for.
 */
export async function endBackend(client: pg.ClientBase, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  await client.query('SELECT pg_terminate_backend($1::int)', [pid])
  for (;;) {
    const { rows } = await client.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1::int', [pid])
    if (rows.length === 0) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
