import type { Config } from '../config.js'
import { createPool, createPrisma } from '../infra/db.js'
import type { Logger } from '../infra/logger.js'
import { migrate } from '../infra/migrator.js'
import { MIGRATIONS_DIR } from '../lib/paths.js'
import { createSecretBox } from '../lib/secret-box.js'
import { DKIM_BOX_PURPOSE } from '../modules/domains/dkim.keys.js'
import { createDomainRepository } from '../modules/domains/domain.repository.js'
import { resealDomainKeys } from '../modules/domains/domain.reseal.js'

/**
 * `hikyaku migrate`: the SQL migrations, then the data migrations that need the application's
 * code (re-sealing DKIM keys in the current secret-box format). Every step is idempotent, so the
 * command can run on every deploy. Returns the exit code.
 */
export async function runMigrate(config: Config, logger: Logger): Promise<number> {
  const { applied } = await migrate(config.databaseUrl, MIGRATIONS_DIR, logger)
  logger.info({ applied: applied.length }, applied.length ? 'migrations applied' : 'database schema is up to date')

  const pool = createPool(config.databaseUrl, 2)
  const prisma = createPrisma(pool)
  try {
    const { resealed, failed } = await resealDomainKeys({
      repository: createDomainRepository({ pool, prisma }),
      box: createSecretBox(config.secret, DKIM_BOX_PURPOSE),
      logger,
    })
    if (resealed > 0) logger.info({ resealed }, 'DKIM keys re-sealed, bound to their domains')
    if (failed.length > 0) {
      logger.error(
        { domains: failed.map((d) => d.name) },
        'DKIM keys of these domains could not be re-sealed: run "hikyaku migrate" again with the HIKYAKU_SECRET that sealed them',
      )
      return 1
    }
    return 0
  } finally {
    await prisma.$disconnect()
    await pool.end()
  }
}
