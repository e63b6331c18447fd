import type { Logger } from '../../infra/logger.js'
import type { SecretBox } from '../../lib/secret-box.js'
import { type SealedKeyPurpose, sealedKeyAad } from './dkim.keys.js'
import type { DomainRepository } from './domain.repository.js'

export interface ResealResult {
  /** Rows whose keys were re-sealed now. */
  resealed: number
  /** Rows whose old keys would not open (another HIKYAKU_SECRET sealed them); left as they were. */
  failed: Array<{ id: string; name: string }>
}

/**
 * Data migration run by `hikyaku migrate` after the SQL migrations: every DKIM private key still
 * sealed in the `v1` format (no AAD) is re-sealed as `v2`, bound to its account, domain and
 * purpose. One transaction per row, the row locked; rows already in `v2` are left alone, so it
 * can run any number of times, and concurrently with itself.
 */
export async function resealDomainKeys(deps: { repository: DomainRepository; box: SecretBox; logger?: Logger }): Promise<ResealResult> {
  const { repository, box, logger } = deps
  const result: ResealResult = { resealed: 0, failed: [] }
  for (const { accountId, id } of await repository.withSealedPrefix('v1.')) {
    let unopened: { name: string; err: unknown } | undefined
    const changed = await repository.rewriteSealedKeys(accountId, id, (keys) => {
      const reseal = (sealed: string, purpose: SealedKeyPurpose): string => {
        if (!box.isLegacy(sealed)) return sealed
        try {
          return box.seal(box.openLegacy(sealed), sealedKeyAad(keys, purpose))
        } catch (err) {
          unopened = { name: keys.name, err }
          return sealed
        }
      }
      const dkimPrivateKey = reseal(keys.dkimPrivateKey, 'dkim-rsa')
      const ed25519PrivateKey = keys.ed25519PrivateKey === null ? null : reseal(keys.ed25519PrivateKey, 'dkim-ed25519')
      // A row is re-sealed whole or not at all.
      return unopened ? keys : { dkimPrivateKey, ed25519PrivateKey }
    })
    if (changed) result.resealed++
    if (unopened) {
      // Left as it was: one row sealed under another secret must not stop the others.
      logger?.error(
        { err: unopened.err, domainId: id, domain: unopened.name },
        'cannot re-seal the DKIM keys of a domain: HIKYAKU_SECRET is not the one that sealed them',
      )
      result.failed.push({ id, name: unopened.name })
    }
  }
  return result
}
