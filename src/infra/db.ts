import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient } from '../generated/prisma/client.js'

export type Pool = pg.Pool
export type PoolClient = pg.PoolClient

// Timestamps come back as Date objects (the default); bigint counts as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value))

/**
 * One pg pool per process, shared by Prisma (through the driver adapter) and by the hot paths
 * that batch many rows per statement in hand-written SQL. Every wait on the database is bounded:
 * a server that stops answering without closing the connection (no RST) must turn into a 503 or
 * a 451 within seconds, not hold requests, claims or the sweeper's lock for ever.
 * - the server cancels a statement after `statementTimeoutMs`, and ends a session left idle
 *   inside a transaction;
 * - the client gives up a little later (`query_timeout`), for a server that cannot even cancel;
 * - TCP keep-alive notices a peer that vanished from an idle connection.
 */
/** The client waits this much longer than the server: a statement the server can cancel, it does. */
const QUERY_TIMEOUT_MARGIN_MS = 2_000

export function createPool(connectionString: string, max: number, options: { statementTimeoutMs?: number } = {}): Pool {
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: Math.min(5_000, statementTimeoutMs),
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    idle_in_transaction_session_timeout: 2 * statementTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  })
  // An idle client that loses its connection must not crash the process; the next checkout reconnects.
  pool.on('error', () => {})
  return pool
}

export function createPrisma(pool: Pool): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg(pool) })
}

export type { PrismaClient }

// Deadlock and serialization failures: the transaction was rolled back and can simply run again.
const RETRYABLE = new Set(['40P01', '40001'])

/**
 * Runs `fn` on one checked-out pooled connection, watching it. Checked out, a connection has no
 * pool listener for its errors: one lost meanwhile (a server restart, a reset) would be an
 * unhandled 'error' event and end the process; here it is what `fn` fails with. A connection
 * that failed other than with a plain SQL error (a timeout, a reset, the server away) is
 * discarded rather than reused.
 */
export async function withConnection<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let lost: Error | undefined
  const onLost = (err: Error) => {
    lost = err
  }
  client.on('error', onLost)
  let failure: unknown
  try {
    return await fn(client)
  } catch (err) {
    failure = lost ?? err
    throw failure
  } finally {
    client.removeListener('error', onLost)
    const discard = failure !== undefined && (!isSqlError(failure) || isDatabaseUnavailable(failure))
    client.release(discard ? (failure instanceof Error ? failure : true) : undefined)
  }
}

/** Runs `fn` in a transaction on one pooled connection, again (up to 3 times) after a deadlock. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withConnection(pool, async (client) => {
        await client.query('BEGIN')
        try {
          const result = await fn(client)
          await client.query('COMMIT')
          return result
        } catch (err) {
          // A connection that failed other than with an SQL error is dropped, which rolls the
          // transaction back; a ROLLBACK queued behind a statement that never answered would
          // only wait out another query timeout.
          if (isSqlError(err)) await client.query('ROLLBACK').catch(() => {})
          throw err
        }
      })
    } catch (err) {
      if (attempt >= 3 || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err
    }
  }
}

/** An error the server reported with an SQLSTATE (the connection itself is fine). */
const isSqlError = (err: unknown): boolean => /^[0-9A-Z]{5}$/.test((err as { code?: string } | undefined)?.code ?? '')

// Driver (pg, node) and server (SQLSTATE) codes for "the database is unreachable, stalled or
// refusing work right now" rather than a bug in the statement.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57014', // statement timeout: the server is stalled or overloaded
  '25P03', // idle in transaction too long
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08006',
  '08001',
  '08003',
  '08004',
  // Prisma's: cannot reach, timed out, operations timed out, connection closed, pool timeout.
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
])
/** The SQLSTATE of a pg error, or '' for anything else. */
export const sqlState = (err: unknown): string => (err as { code?: string } | undefined)?.code ?? ''
/** The database refused the data itself (SQLSTATE class 22 or 23): running it again changes nothing. */
export const isDataError = (err: unknown): boolean => /^2[23][0-9A-Z]{3}$/.test(sqlState(err))

// What Prisma's pg adapter says when it lost or never had a connection.
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections'])
const UNAVAILABLE_TEXT = /timeout exceeded when trying to connect|Query read timeout|Connection terminated|connection.*(refused|closed)/i

/**
 * Errors that mean "Postgres is unreachable, stalled or refusing work right now" rather than a
 * bug: from pg directly, from Prisma (its own codes, or the driver error it wraps), or already
 * translated into `unavailable` at a repository's edge.
 */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 3) return false
  const e = err as {
    name?: string
    code?: string
    message?: string
    kind?: string
    originalCode?: string
    meta?: { driverAdapterError?: { cause?: unknown } }
    cause?: unknown
  }
  if (e.code === 'unavailable' && e.name === 'AppError') return true
  if ((e.code && UNAVAILABLE_CODES.has(e.code)) || (e.originalCode && UNAVAILABLE_CODES.has(e.originalCode))) return true
  if (e.kind && UNAVAILABLE_KINDS.has(e.kind)) return true
  if (UNAVAILABLE_TEXT.test(e.message ?? '')) return true
  return isDatabaseUnavailable(e.meta?.driverAdapterError?.cause, depth + 1) || isDatabaseUnavailable(e.cause, depth + 1)
}
