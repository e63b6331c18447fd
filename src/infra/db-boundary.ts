import pg from 'pg'
import { AppError, unavailable } from '../lib/errors.js'
import { isDatabaseUnavailable, type Pool, type PrismaClient } from './db.js'

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
 * One query on a connection of its own, opened with the pool's settings and closed after. For
 * the question asked right after a connection failure: the pool's idle connections may be dead
 * too (a restarted server), and a fresh one either answers or fails within its timeouts.
 */
const FRESH_QUERY_TIMEOUT_MS = 5_000

export async function queryOnFreshConnection<R extends pg.QueryResultRow>(pool: Pool, text: string, values: unknown[]): Promise<R[]> {
  // A short question: it gets short timeouts whatever the pool allows its own statements.
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
    return (await client.query<R>(text, values)).rows
  } finally {
    await client.end().catch(() => {})
  }
}
