import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient } from '../generated/prisma/client.js'

export type Pool = pg.Pool
export type PoolClient = pg.PoolClient

// Timestamps come back as Date objects (the default); bigint counts as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value))

/**
 * One pg pool per process, shared by Prisma (through the driver adapter) and by the hot paths
 * that batch many rows per statement in hand-written SQL.
 */
export function createPool(connectionString: string, max: number): Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 })
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

/** Runs `fn` in a transaction on one pooled connection, again (up to 3 times) after a deadlock. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      if (attempt >= 3 || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err
    } finally {
      client.release()
    }
  }
}

/** Errors that mean "Postgres is unreachable or refusing work right now" rather than a bug. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined
  if (!e) return false
  if (
    e.code &&
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      'ENOTFOUND',
      '57P01',
      '57P02',
      '57P03',
      '53300',
      '08006',
      '08001',
      '08003',
      '08004',
    ].includes(e.code)
  )
    return true
  return /timeout exceeded when trying to connect|Connection terminated|connection.*(refused|closed)/i.test(e.message ?? '')
}
