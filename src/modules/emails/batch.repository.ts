import { withTransaction } from '../../infra/db.js'
import { guardRepository, type RepositoryDeps } from '../../infra/db-boundary.js'
import { IDEMPOTENCY_LOCK_SQL, insertEmails, type NewEmailRows } from './email.repository.js'
import { acceptedBody } from './email.rows.js'
import type { Accepted } from './email.types.js'
import { IDEMPOTENCY_TTL_MS } from './idempotency.js'

/** One valid item of a batch: its rows, and its own idempotency key with the item's fingerprint. */
export interface BatchItemRows {
  index: number
  rows: NewEmailRows
  key?: { key: string; fingerprint: string }
}

/** What became of one valid item. */
export type BatchItemOutcome =
  | { index: number; kind: 'accepted'; body: Accepted }
  | { index: number; kind: 'replayed'; body: Accepted }
  | { index: number; kind: 'mismatch' }

export type BatchOutcome<T> =
  | { kind: 'done'; items: BatchItemOutcome[]; answer: T }
  /** Strict mode and an item's key was used before with another body: nothing was written. */
  | { kind: 'item_mismatch'; indexes: number[] }
  | { kind: 'in_progress' }
  | { kind: 'mismatch' }
  | { kind: 'replayed'; answer: T }

class StrictMismatch extends Error {
  constructor(readonly indexes: number[]) {
    super('strict batch with an idempotency mismatch')
  }
}

/**
 * A batch of sends in one transaction and a handful of statements, whatever its size: the
 * request's key (if any) is locked and looked up, the items' keys are claimed in one statement
 * (an item whose key was used before is answered from its stored result, or refused when its
 * body differs), every new item's email is written in one statement, and the stored answers
 * are written in one more. In strict mode a refused item rolls everything back.
 */
export function createBatchRepository({ pool }: RepositoryDeps) {
  return guardRepository({
    async accept<T>(
      accountId: string,
      items: BatchItemRows[],
      options: { strict: boolean; request?: { key: string; fingerprint: string }; answer: (items: BatchItemOutcome[]) => T },
    ): Promise<BatchOutcome<T>> {
      try {
        return await withTransaction(pool, async (client): Promise<BatchOutcome<T>> => {
          const { request } = options
          if (request) {
            const { rows: lock } = await client.query<{ locked: boolean }>(`SELECT ${IDEMPOTENCY_LOCK_SQL} AS locked`, [
              accountId,
              request.key,
            ])
            if (!lock[0]?.locked) return { kind: 'in_progress' }
            const { rows: found } = await client.query<{ fingerprint: string; response_body: T }>(
              'SELECT fingerprint, response_body FROM idempotency_records WHERE account_id = $1 AND key = $2 AND expires_at > now()',
              [accountId, request.key],
            )
            const stored = found[0]
            if (stored)
              return stored.fingerprint === request.fingerprint ? { kind: 'replayed', answer: stored.response_body } : { kind: 'mismatch' }
          }

          // Item keys, claimed in key order (two batches sharing keys wait on each other, never deadlock).
          const keyed = items.filter((i) => i.key).sort((a, b) => ((a.key?.key ?? '') < (b.key?.key ?? '') ? -1 : 1))
          const known = new Map<string, { fingerprint: string; body: Accepted }>()
          if (keyed.length > 0) {
            const { rows: claimed } = await client.query<{ key: string }>(
              `INSERT INTO idempotency_records AS i (account_id, key, fingerprint, response_status, response_body, email_id, expires_at)
               SELECT $1, x.key, x.fingerprint, 202, '{}', x.email_id, now() + $3 * interval '1 millisecond'
                 FROM json_to_recordset($2::json) AS x(key text, fingerprint text, email_id uuid)
               ON CONFLICT (account_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, response_body = '{}',
                 email_id = EXCLUDED.email_id, created_at = now(), expires_at = EXCLUDED.expires_at
               WHERE i.expires_at <= now()
               RETURNING key`,
              [
                accountId,
                JSON.stringify(keyed.map((i) => ({ key: i.key?.key, fingerprint: i.key?.fingerprint, email_id: i.rows.email.id }))),
                IDEMPOTENCY_TTL_MS,
              ],
            )
            const mine = new Set(claimed.map((r) => r.key))
            const others = keyed.filter((i) => !mine.has(i.key?.key ?? '')).map((i) => i.key?.key)
            if (others.length > 0) {
              const { rows: stored } = await client.query<{ key: string; fingerprint: string; response_body: Accepted }>(
                'SELECT key, fingerprint, response_body FROM idempotency_records WHERE account_id = $1 AND key = ANY($2::text[])',
                [accountId, others],
              )
              for (const s of stored) known.set(s.key, { fingerprint: s.fingerprint, body: s.response_body })
            }
          }

          const outcomes: BatchItemOutcome[] = []
          const fresh: BatchItemRows[] = []
          for (const item of items) {
            const seen = item.key && known.get(item.key.key)
            if (!seen) fresh.push(item)
            else if (seen.fingerprint === item.key?.fingerprint) outcomes.push({ index: item.index, kind: 'replayed', body: seen.body })
            else outcomes.push({ index: item.index, kind: 'mismatch' })
          }
          const mismatched = outcomes.filter((o) => o.kind === 'mismatch').map((o) => o.index)
          if (options.strict && mismatched.length > 0) throw new StrictMismatch(mismatched)

          if (fresh.length > 0)
            await insertEmails(
              client,
              fresh.map((i) => i.rows),
            )
          for (const item of fresh) outcomes.push({ index: item.index, kind: 'accepted', body: acceptedBody(item.rows) })
          const answers = fresh.filter((i) => i.key).map((i) => ({ key: i.key?.key, body: acceptedBody(i.rows) }))
          if (answers.length > 0) {
            await client.query(
              `UPDATE idempotency_records i SET response_body = x.body
                 FROM json_to_recordset($2::json) AS x(key text, body jsonb) WHERE i.account_id = $1 AND i.key = x.key`,
              [accountId, JSON.stringify(answers)],
            )
          }
          outcomes.sort((a, b) => a.index - b.index)
          const answer = options.answer(outcomes)
          if (request) {
            await client.query(
              `INSERT INTO idempotency_records AS i (account_id, key, fingerprint, response_status, response_body, expires_at)
               VALUES ($1, $2, $3, 202, $4, now() + $5 * interval '1 millisecond')
               ON CONFLICT (account_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, response_status = 202,
                 response_body = EXCLUDED.response_body, email_id = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
               WHERE i.expires_at <= now()`,
              [accountId, request.key, request.fingerprint, JSON.stringify(answer), IDEMPOTENCY_TTL_MS],
            )
          }
          return { kind: 'done', items: outcomes, answer }
        })
      } catch (err) {
        if (err instanceof StrictMismatch) return { kind: 'item_mismatch', indexes: err.indexes }
        throw err
      }
    },
  })
}

export type BatchRepository = ReturnType<typeof createBatchRepository>
