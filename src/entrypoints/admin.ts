import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Container } from '../container.js'
import { presentOperatorAccount } from '../http/routes/operator.routes.js'
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
    // A key of a suspended account is still this account's key: the operator suspended it on purpose.
    const valid = await container.services.apiKeys.authenticate(key).then(
      () => true,
      (err: unknown) => err instanceof AppError && err.code === 'account_suspended',
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

/** The most `accounts list` prints: beyond, --search narrows it down. */
export const MAX_LISTED = 10_000
const PAGE = 100

// A name stored before names were checked may hold control characters: never sent to a terminal as they are.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?')

/**
 * `hikyaku accounts list`: newest first, at most `limit`, a line each (id, state, created, name)
 * or, with `json`, one JSON array of what the operator API shows.
 */
export async function listAccounts(container: Container, options: { search?: string; limit: number; json: boolean }): Promise<string> {
  const limit = Math.min(options.limit, MAX_LISTED)
  const accounts = []
  let before: string | undefined
  while (accounts.length < limit) {
    const page = await container.services.accounts.list({ limit: Math.min(PAGE, limit - accounts.length), before, q: options.search })
    accounts.push(...page)
    if (page.length < PAGE) break
    before = page[page.length - 1]?.id
  }
  if (options.json) return JSON.stringify(accounts.map(presentOperatorAccount))
  if (accounts.length === 0)
    return options.search ? 'No account matches.' : 'No accounts yet: create one with "hikyaku accounts create NAME".'
  return accounts
    .map((a) => `${a.id}  ${a.suspendedAt ? 'suspended' : 'active   '}  ${a.createdAt.toISOString().slice(0, 10)}  ${printable(a.name)}`)
    .join('\n')
}

/** `hikyaku accounts suspend`: prints the account as JSON, as the operator API shows it. */
export async function suspendAccount(container: Container, accountId: string, reason: string): Promise<string> {
  const account = await container.services.accounts.suspend(accountId, reason)
  return JSON.stringify(presentOperatorAccount(account))
}

/** `hikyaku accounts unsuspend`: prints the account as JSON. */
export async function unsuspendAccount(container: Container, accountId: string): Promise<string> {
  const account = await container.services.accounts.unsuspend(accountId)
  return JSON.stringify(presentOperatorAccount(account))
}
