import type { Logger } from '../../infra/logger.js'
import { AppError, notFound } from '../../lib/errors.js'
import { createTtlCache } from '../../lib/ttl-cache.js'
import type { StreamRepository } from './stream.repository.js'
import type { Streams } from './streams.js'

export interface ComplaintGuard {
  /** Complaints per successful delivery over the window that pause a broadcast stream (0.001 = 0.1 %). */
  rate: number
  windowMs: number
  /** Deliveries in the window below which no rate is judged: one complaint in ten mails says little. */
  minDelivered: number
}

/** A complaint as the guard needs it. */
export interface ComplaintSeen {
  accountId: string
  stream: string
  emailId: string
}

const PAUSED_TTL_MS = 2_000
const CHECK_EVERY_MS = 10_000

/**
 * The account's streams, and the complaint-rate guard: a broadcast stream whose complaints pass
 * the threshold over the window pauses itself (a `stream.paused` event, the reason shown by
 * GET /v1/streams): its mail is not handed to SMTP (the claim refuses it) and new sends into it
 * are refused until the account resumes it. Mailbox providers act at about 0.3 %; stopping at
 * 0.1 % keeps a sender clear of that.
 */
export function createStreamService(deps: { repository: StreamRepository; streams: Streams; guard: ComplaintGuard; logger: Logger }) {
  const { repository, streams, guard, logger } = deps
  const paused = createTtlCache<Promise<string | undefined>>({ maxEntries: 10_000 })
  const checked = createTtlCache<true>({ maxEntries: 10_000 })

  const pausedReason = (accountId: string, stream: string): Promise<string | undefined> => {
    const key = `${accountId}/${stream}`
    let found = paused.get(key)
    if (!found) {
      found = repository.pauses(accountId).then((all) => all.find((p) => p.stream === stream)?.reason)
      found.catch(() => paused.delete(key))
      paused.set(key, found, PAUSED_TTL_MS)
    }
    return found
  }

  return {
    /** The account's streams with their kind and whether they are paused (and why). */
    async list(accountId: string) {
      const pauses = await repository.pauses(accountId)
      return streams.names.map((name) => {
        const pause = pauses.find((p) => p.stream === name)
        return {
          name,
          kind: streams.get(name)?.kind ?? 'transactional',
          paused: pause !== undefined,
          pausedReason: pause?.reason ?? null,
          pausedAt: pause?.pausedAt ?? null,
        }
      })
    },

    async resume(accountId: string, stream: string): Promise<void> {
      if (!streams.has(stream)) throw notFound('Stream')
      if (!(await repository.resume(accountId, stream))) throw new AppError('conflict', `The ${stream} stream is not paused.`)
      paused.delete(`${accountId}/${stream}`)
      logger.info({ accountId, stream }, 'stream resumed')
    },

    /** 409 when the account's stream is paused (read at most every couple of seconds per account and stream). */
    async checkOpen(accountId: string, stream: string): Promise<void> {
      const reason = await pausedReason(accountId, stream)
      if (reason) {
        throw new AppError(
          'conflict',
          `The ${stream} stream of this account is paused (${reason}); nothing is sent in it until it is resumed with POST /v1/streams/${stream}/resume.`,
        )
      }
    },

    /**
     * After complaints were recorded: each broadcast stream they are about is judged at most every
     * few seconds, and paused when its complaint rate over the window passes the threshold.
     */
    async complaintsRecorded(seen: ComplaintSeen[]): Promise<void> {
      for (const c of seen) {
        if (!streams.isBroadcast(c.stream)) continue
        const key = `${c.accountId}/${c.stream}`
        if (checked.get(key)) continue
        checked.set(key, true, CHECK_EVERY_MS)
        try {
          const { complaints, delivered } = await repository.feedbackSince(c.accountId, c.stream, new Date(Date.now() - guard.windowMs))
          if (delivered < guard.minDelivered || complaints / delivered <= guard.rate) continue
          const rate = complaints / delivered
          const percent = (n: number) => `${Math.round(n * 100_000) / 1000} %`
          const hours = Math.round(guard.windowMs / 3_600_000)
          const reason = `complaint rate ${percent(rate)} over ${hours} h passed ${percent(guard.rate)} (${complaints} complaints, ${delivered} delivered)`
          const done = await repository.pause(c.accountId, c.stream, reason, c.emailId, {
            complaint_rate: Math.round(rate * 1e6) / 1e6,
            window: `${hours}h`,
            complaints,
            delivered,
          })
          if (done) {
            paused.delete(key)
            logger.warn({ accountId: c.accountId, stream: c.stream, complaints, delivered }, 'stream paused by the complaint-rate guard')
          }
        } catch (err) {
          logger.warn({ err: String(err), accountId: c.accountId, stream: c.stream }, 'could not judge the complaint rate')
        }
      }
    },
  }
}

export type StreamService = ReturnType<typeof createStreamService>
