import { type Command, oneShot, options } from './cli.kit.js'
import { isUuid } from './lib/uuid.js'

/** `hikyaku accounts …`: accounts, their quotas and their suspension, for operators at a shell. */
export const ACCOUNT_COMMANDS: Command[] = [
  {
    name: 'accounts create',
    args: 'NAME',
    summary: 'create an account; prints its full-access API key',
    details: 'NAME may be several words ("My Company"). The new key is printed alone on a line.',
    parse: (args, fail) => {
      const { positionals } = options(args, {}, fail)
      const name = positionals.join(' ').trim()
      if (!name) throw fail('NAME is required')
      return () => oneShot(async (container) => (await import('./entrypoints/admin.js')).createAccount(container, name))
    },
  },
  {
    name: 'accounts quota',
    args: '--account ID --stream NAME [--day N] [--month N] [--clear]',
    summary: "set an account's quota for a stream (recipients per UTC day / month)",
    details:
      'Over its quota, a send gets 429 rate_limited with Retry-After until the period resets. --clear returns to the default (STREAMS).',
    parse: (args, fail) => {
      const spec = {
        account: { type: 'string' },
        stream: { type: 'string' },
        day: { type: 'string' },
        month: { type: 'string' },
        clear: { type: 'boolean' },
      } as const
      const { values, positionals } = options(args, spec, fail)
      if (positionals.length > 0) throw fail(`unexpected argument "${positionals[0]}"`)
      const { account, stream, day, month, clear } = values as {
        account?: string
        stream?: string
        day?: string
        month?: string
        clear?: boolean
      }
      if (!account || !isUuid(account)) throw fail('--account must be an account id (a UUID)')
      if (!stream) throw fail('--stream is required')
      const count = (v: string | undefined, flag: string) => {
        if (v === undefined) return undefined
        if (!/^\d+$/.test(v)) throw fail(`${flag} must be a whole number (got "${v}")`)
        return Number(v)
      }
      const quota = clear ? null : { day: count(day, '--day'), month: count(month, '--month') }
      if (quota && quota.day === undefined && quota.month === undefined) throw fail('give --day, --month or --clear')
      return () => oneShot(async (container) => (await import('./entrypoints/admin.js')).setQuota(container, account, stream, quota))
    },
  },
  {
    name: 'accounts list',
    args: '[--search TEXT] [--limit N] [--json]',
    summary: 'list accounts, newest first',
    details: [
      'Options:',
      '  --search TEXT   only accounts whose name holds TEXT, in any case',
      '  --limit N       at most N accounts (default 1000, at most 10000)',
      '  --json          one JSON array, each account as the operator API shows it (quotas, suspension)',
      'Without --json: a line per account: id, active or suspended, creation date, name.',
    ].join('\n'),
    parse: (args, fail) => {
      const spec = {
        search: { type: 'string' },
        limit: { type: 'string', default: '1000' },
        json: { type: 'boolean', default: false },
      } as const
      const { values, positionals } = options(args, spec, fail)
      if (positionals.length > 0) throw fail(`unexpected argument "${positionals[0]}"`)
      const { search, limit, json } = values as { search?: string; limit: string; json: boolean }
      if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 10_000)
        throw fail(`--limit must be a number from 1 to 10000 (got "${limit}")`)
      if (search !== undefined && (search.trim() === '' || search.length > 200)) throw fail('--search must be 1 to 200 characters')
      return () =>
        oneShot(async (container) =>
          (await import('./entrypoints/admin.js')).listAccounts(container, { search, limit: Number(limit), json }),
        )
    },
  },
  {
    name: 'accounts suspend',
    args: '--account ID --reason TEXT',
    summary: 'suspend an account: its API keys are refused and its queued mail is held',
    details: [
      'Its keys get 403 account_suspended over HTTP (535 over SMTP) from their next request; mail it',
      'queued is not sent until "hikyaku accounts unsuspend", and still expires at MAX_DELIVERY_AGE.',
      'The reason (one line, at most 500 characters) is for operators; the account is not shown it.',
      'Suspending again keeps the first time and takes the new reason. Prints the account as JSON.',
    ].join('\n'),
    parse: (args, fail) => {
      const spec = { account: { type: 'string' }, reason: { type: 'string' } } as const
      const { values, positionals } = options(args, spec, fail)
      if (positionals.length > 0) throw fail(`unexpected argument "${positionals[0]}"`)
      const { account, reason } = values as { account?: string; reason?: string }
      if (!account || !isUuid(account)) throw fail('--account must be an account id (a UUID)')
      if (!reason?.trim()) throw fail('--reason is required')
      return () => oneShot(async (container) => (await import('./entrypoints/admin.js')).suspendAccount(container, account, reason))
    },
  },
  {
    name: 'accounts unsuspend',
    args: '--account ID',
    summary: 'lift a suspension: the keys work again and held mail goes out',
    details: 'Held mail is picked up by the next sweeps (SWEEP_INTERVAL). Prints the account as JSON.',
    parse: (args, fail) => {
      const { values, positionals } = options(args, { account: { type: 'string' } }, fail)
      if (positionals.length > 0) throw fail(`unexpected argument "${positionals[0]}"`)
      const { account } = values as { account?: string }
      if (!account || !isUuid(account)) throw fail('--account must be an account id (a UUID)')
      return () => oneShot(async (container) => (await import('./entrypoints/admin.js')).unsuspendAccount(container, account))
    },
  },
]
