import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Container } from '../container.js'
import { AppError } from '../lib/errors.js'
import { isUuid } from '../lib/uuid.js'
import type { ApiKeyScope } from '../modules/api-keys/api-key.types.js'

/** One-shot administrative commands. Each prints its result to stdout for scripts to capture. */
export async function createAccount(container: Container, name: string): Promise<string> {
  const { key } = await container.services.accounts.create(name)
  return key
}

export async function createKey(container: Container, accountId: string, scope: ApiKeyScope, name?: string): Promise<string> {
  if (!isUuid(accountId) || !(await container.services.accounts.exists(accountId))) {
    throw new AppError('not_found', `No account with id ${accountId}`)
  }
  const { key } = await container.services.apiKeys.create({ accountId, scope, name })
  return key
}

/**
 * The development account and key: created on first run and kept in var/dev-api-key, reused while
 * it still authenticates (a reset database gets a new one).
 */
export async function ensureDevKey(container: Container): Promise<string> {
  const file = join(container.config.varDir, 'dev-api-key')
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim()
    const valid = await container.services.apiKeys.authenticate(key).then(
      () => true,
      () => false,
    )
    if (valid) return key
  }
  const key = await createAccount(container, 'Development')
  mkdirSync(container.config.varDir, { recursive: true })
  writeFileSync(file, `${key}\n`, { mode: 0o600 })
  return key
}

/** `hikyaku accounts quota`: sets or clears an account's quota for a stream; prints its quotas as JSON. */
export async function setQuota(
  container: Container,
  accountId: string,
  stream: string,
  quota: { day?: number; month?: number } | null,
): Promise<string> {
  return JSON.stringify(await container.services.accounts.setQuota(accountId, stream, quota))
}
