import type { Readable } from 'node:stream'

/**
 * A process-wide count of bytes held in memory by requests in flight, shared by whoever reads
 * bodies (HTTP sends, SMTP messages). Holders take reservations and give them back exactly once.
 */
export interface ByteBudget {
  readonly limit: number
  /** Bytes reserved right now. */
  readonly used: number
  /** Reservations not yet released. */
  readonly holders: number
  /**
   * A reservation of `bytes`, or undefined when that would pass the limit. A reservation larger
   * than the whole budget is still granted when nothing else is held: otherwise a message of the
   * maximum size could never be accepted by a process whose budget is smaller than it.
   */
  reserve(bytes: number): Reservation | undefined
}

export interface Reservation {
  readonly bytes: number
  /**
   * Adds `bytes` to this reservation; false (and nothing added) when that would pass the limit,
   * unless this reservation is the only one holding bytes (see `ByteBudget.reserve`).
   */
  grow(bytes: number): boolean
  /** Gives every byte back. Idempotent: only the first call counts, later ones do nothing. */
  release(): void
}

export function createByteBudget(limit: number): ByteBudget {
  if (!(limit > 0)) throw new RangeError(`A byte budget must be positive, got ${limit}`)
  let used = 0
  let holders = 0

  const fits = (bytes: number, own: number) => used + bytes <= limit || used === own

  const reservation = (): Reservation => {
    let held = 0
    let released = false
    return {
      get bytes() {
        return held
      },
      grow(bytes) {
        if (released || !fits(bytes, held)) return false
        held += bytes
        used += bytes
        return true
      },
      release() {
        if (released) return
        released = true
        used -= held
        holders--
        held = 0
      },
    }
  }

  return {
    limit,
    get used() {
      return used
    },
    get holders() {
      return holders
    },
    reserve(bytes) {
      if (!fits(bytes, 0)) return undefined
      holders++
      const r = reservation()
      r.grow(bytes)
      return r
    },
  }
}

/** Why a message was not kept: larger than allowed, no room in the budget, or not received in time. */
export type ReadRefusal = 'too_big' | 'no_room' | 'too_slow'

/**
 * Reads a message while it streams in, keeping at most `max` bytes: an oversize message is
 * consumed to its end (SMTP requires it) but never buffered whole. Every chunk kept is charged to
 * the budget at `weight` bytes per byte (for the copies the message goes through after this). On
 * a refusal nothing stays reserved; otherwise the caller releases the returned reservation once
 * it is done with the message.
 *
 * `timeLimitMs` bounds the whole read, however steadily the bytes come: an idle timeout alone
 * lets a client that sends one byte just before each timeout hold its reservation for hours. Past
 * the limit the answer is `too_slow` at once, without waiting for the end of the stream: what was
 * read is dropped and its reservation released, and later chunks are discarded. The caller ends
 * the conversation (the stream itself may never end).
 */
export function readCapped(
  stream: Readable & { sizeExceeded?: boolean },
  max: number,
  budget: ByteBudget,
  weight = 1,
  timeLimitMs?: number,
): Promise<{ raw: Buffer; reservation: Reservation } | ReadRefusal> {
  return new Promise((resolve, reject) => {
    const reservation = budget.reserve(0)
    const chunks: Buffer[] = []
    let size = 0
    let refused: ReadRefusal | undefined = reservation ? undefined : 'no_room'
    const drop = () => {
      reservation?.release()
      chunks.length = 0
    }
    const timer =
      timeLimitMs === undefined
        ? undefined
        : setTimeout(() => {
            refused = 'too_slow'
            drop()
            resolve('too_slow')
          }, timeLimitMs)
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (refused) return
      if (size > max) refused = 'too_big'
      else if (!reservation?.grow(chunk.length * weight)) refused = 'no_room'
      if (refused) drop()
      else chunks.push(chunk)
    })
    stream.once('error', (err) => {
      clearTimeout(timer)
      drop()
      reject(err)
    })
    stream.once('end', () => {
      clearTimeout(timer)
      if (!refused && stream.sizeExceeded) refused = 'too_big'
      if (refused || !reservation) {
        drop()
        resolve(refused ?? 'no_room')
        return
      }
      const raw = Buffer.concat(chunks, size)
      chunks.length = 0
      resolve({ raw, reservation })
    })
  })
}
