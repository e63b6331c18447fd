import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ByteBudget, Reservation } from '../../lib/byte-budget.js'
import { unavailable } from '../../lib/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Request bodies in flight in this process, in bytes (see registerBodyBudget). */
    bodyBudget: ByteBudget
  }
}

/**
 * Bounds the request bodies one process holds at once (review finding 7). Every request with a
 * body reserves its `content-length` (a chunked one, without it, reserves the whole body limit)
 * before the body is read; past the budget it gets 503 with a short Retry-After instead, and its
 * body is never buffered. One request larger than the whole budget is still admitted when nothing
 * else is in flight, or a message of the maximum size could never be sent.
 *
 * The budget counts the bytes on the wire. A send body is copied several times before it is
 * committed (the JSON text, the parsed base64 strings, the decoded attachments, the stored
 * message, the database batch and its wire buffer): one 28 MB body carrying a 20 MB attachment
 * peaked at 162 MB of heap and external memory (5.8×), four at once at 476 MB (4.3× each). The
 * memory held by bodies in flight is therefore about HTTP_BODY_BUDGET × 6 (the 256 MiB default:
 * about 1.5 GB), or one body larger than the budget alone, instead of unbounded.
 *
 * A reservation is taken before any byte arrives, so what bounds how long it is held is the
 * server's request timeout (see `buildHttpApp`), and what bounds how much one caller may hold is
 * its key's share, `keyShare`: one API key's requests together may reserve at most a quarter of
 * the budget, or one maximum-size body when that is more. Idle uploads from one key then fill its
 * share, never the budget: other keys keep sending. Past its share a key gets the same 503.
 *
 * Why reserve the declared length rather than charge bytes as they arrive: the refusal comes
 * before the body is sent, not after a client has uploaded most of it, and a request admitted is
 * sure to fit. Charging on arrival would free idle uploads, but a slow one would still hold what
 * it sent, and requests admitted on a budget that later runs out would all fail mid-body.
 *
 * Registered after authentication and the rate limit, so only callers with a valid key can hold
 * a reservation. Each reservation is released exactly once: when the response is sent, or when
 * the client goes away first (the request timeout included).
 */
export function registerBodyBudget(app: FastifyInstance, options: { budget: ByteBudget; bodyLimit: number }): void {
  const { budget, bodyLimit } = options
  const share = keyShare(budget.limit, bodyLimit)
  /** Bytes reserved per API key (keys holding nothing are not kept). */
  const perKey = new Map<string, number>()
  const held = new WeakMap<FastifyRequest, { reservation: Reservation; key: string }>()
  const release = (request: FastifyRequest) => {
    const hold = held.get(request)
    if (!hold) return
    held.delete(request)
    const left = (perKey.get(hold.key) ?? 0) - hold.reservation.bytes
    if (left > 0) perKey.set(hold.key, left)
    else perKey.delete(hold.key)
    hold.reservation.release()
  }

  app.addHook('onRequest', async (request, reply) => {
    const bytes = bodyBytes(request, bodyLimit)
    if (bytes === 0) return
    const key = request.principal.keyId
    const mine = perKey.get(key) ?? 0
    if (mine + bytes > share) {
      throw unavailable('This API key is already sending as much as one key may at once; retry after the Retry-After delay.', retryDelay())
    }
    const reservation = budget.reserve(bytes)
    if (!reservation) {
      throw unavailable('Hikyaku is receiving as much as it can hold right now; retry after the Retry-After delay.', retryDelay())
    }
    perKey.set(key, mine + bytes)
    held.set(request, { reservation, key })
    // A client that disconnects before its response may get neither onResponse nor
    // onRequestAbort (which only fires while the request is still being received): the
    // response's close event always comes, and a second release does nothing.
    reply.raw.once('close', () => release(request))
  })
  app.addHook('onRequestAbort', async (request) => release(request))
  app.addHook('onResponse', async (request) => release(request))
}

/**
 * What one API key's bodies in flight may reserve together: a quarter of the budget, but never
 * less than one body of the maximum size (alone, a key can always send its largest message).
 */
export const keyShare = (budgetLimit: number, bodyLimit: number): number => Math.max(Math.floor(budgetLimit / 4), bodyLimit)

/** The bytes a request's body will take: its length, the body limit when unknown, 0 without a body. */
function bodyBytes(request: FastifyRequest, bodyLimit: number): number {
  const length = request.headers['content-length']
  if (length !== undefined) {
    const n = Number(length)
    // Past the body limit Fastify answers 413 without reading; a nonsense length gets its 400.
    return Number.isSafeInteger(n) && n >= 0 ? Math.min(n, bodyLimit) : 0
  }
  return request.headers['transfer-encoding'] !== undefined ? bodyLimit : 0
}

/** 1-3 s, spread so that clients refused together do not come back together. */
const retryDelay = () => 1 + Math.floor(Math.random() * 3)
