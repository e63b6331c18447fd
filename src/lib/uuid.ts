import { randomFillSync } from 'node:crypto'

// Random bytes are drawn in blocks: one syscall per 512 ids instead of one per id.
const POOL_SIZE = 512 * 10
const pool = Buffer.alloc(POOL_SIZE)
let poolOffset = POOL_SIZE

let lastMs = 0
let sequence = 0

/**
 * UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter seeded randomly each
 * millisecond, so ids made by one process sort in creation order even within a millisecond.
 */
export function uuidv7(now = Date.now()): string {
  if (poolOffset + 10 > POOL_SIZE) {
    randomFillSync(pool)
    poolOffset = 0
  }
  let ms = now
  if (ms > lastMs) {
    lastMs = ms
    sequence = (pool[poolOffset]! << 4) & 0x7ff
  } else {
    ms = lastMs
    sequence++
    if (sequence > 0xfff) {
      // Counter exhausted within one millisecond: borrow the next one to stay monotonic.
      lastMs = ms = lastMs + 1
      sequence = 0
    }
  }
  const b = Buffer.allocUnsafe(16)
  b.writeUIntBE(ms, 0, 6)
  b[6] = 0x70 | (sequence >> 8)
  b[7] = sequence & 0xff
  pool.copy(b, 8, poolOffset + 2, poolOffset + 10)
  b[8] = (b[8]! & 0x3f) | 0x80
  poolOffset += 10
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const isUuid = (value: string): boolean => UUID_RE.test(value)

/** The creation time encoded in a UUIDv7. */
export const uuidv7Time = (id: string): Date => new Date(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16))

/** The smallest UUIDv7 of a millisecond: ids at or after `time` compare >= this. */
export function uuidv7LowerBound(time: Date): string {
  const h = Math.max(0, time.getTime()).toString(16).padStart(12, '0')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7000-8000-000000000000`
}
