import type { Logger } from '../../infra/logger.js'
import type { RetentionRepository } from './retention.repository.js'

export interface RetentionPolicy {
  /** How long bodies and attachments are kept, by default (RETENTION_BODIES). */
  bodiesMs: number
  /** How long the rest is kept, by default (RETENTION_METADATA). */
  metadataMs: number
  /** Emails per statement. */
  batch: number
  /** Batches per pass over all accounts, so a pass stays short whatever is waiting. */
  maxBatches: number
}

/**
 * Retention: an account's ended emails lose their bodies and attachments after its body
 * retention (RETENTION_BODIES unless the operator set the account's own), and are deleted with
 * their recipients, attempts and events after its metadata retention. Bounded: at most
 * `maxBatches` batches of `batch` emails per pass, each in its own short transaction.
 * Statistics (rollups) and suppressions are kept.
 */
export function createRetentionService(deps: { repository: RetentionRepository; policy: RetentionPolicy; logger: Logger }) {
  const { repository, policy, logger } = deps
  return {
    async pass(now = Date.now(), stopping: () => boolean = () => false): Promise<{ bodies: number; metadata: number; more: boolean }> {
      const done = { bodies: 0, metadata: 0 }
      let batches = 0
      // Metadata first: an email deleted needs no body purge.
      for (const kind of ['metadata', 'bodies'] as const) {
        const due = await repository.due(kind, new Date(now), kind === 'bodies' ? policy.bodiesMs : policy.metadataMs)
        for (const { accountId, cutoff } of due) {
          for (;;) {
            if (stopping() || batches >= policy.maxBatches) return { ...done, more: true }
            batches++
            try {
              const run = kind === 'bodies' ? repository.purgeBodies : repository.purgeMetadata
              const result = await run(accountId, cutoff, policy.batch)
              if (!result) break
              done[kind] += result.done
              if (!result.more) break
            } catch (err) {
              logger.warn({ err: String(err), accountId, kind }, 'retention could not purge; will try again')
              break
            }
          }
        }
      }
      if (done.bodies + done.metadata > 0) logger.info(done, 'retention purged')
      return { ...done, more: false }
    },
  }
}

export type RetentionService = ReturnType<typeof createRetentionService>
