import { ACCOUNT_COMMANDS } from './cli.accounts.js'
import { boot, type Command, noArguments, oneShot, options, out, UsageError } from './cli.kit.js'
import { ConfigError, describeConfig } from './config.js'
import type { Stop } from './entrypoints/lifecycle.js'
import { isUuid } from './lib/uuid.js'

/**
 * The `hikyaku` command. Every command reads and checks its arguments before anything else: a
 * usage error or `--help` never loads the configuration or opens a connection, so it cannot hang
 * on an unreachable database. The application's modules are imported only when a command runs,
 * which keeps `--help` fast.
 */

const COMMANDS: Command[] = [
  {
    name: 'api',
    summary: 'HTTP API',
    parse: noArguments(() => serve(['api'])),
  },
  {
    name: 'worker',
    summary: 'delivery workers and the sweeper',
    parse: noArguments(() => serve(['worker'])),
  },
  {
    name: 'smtp',
    summary: 'SMTP submission listeners (STARTTLS and implicit TLS)',
    parse: noArguments(() => serve(['smtp'])),
  },
  {
    name: 'inbound',
    args: '[--stdin [--recipient ADDRESS]]',
    summary: 'the listener for bounces and complaints (the return-path MX), or one report from stdin',
    details: [
      'Without options: an SMTP listener on INBOUND_HOST:INBOUND_PORT (25 in production) taking DSNs',
      'and complaints for signed return paths and the complaint address; 550 for anything else.',
      'Options:',
      '  --stdin              read one report from standard input (for an MTA pipe transport) and exit',
      '  --recipient ADDRESS  the address the report was sent to (the return path), when the MTA knows it',
      'Exit status with --stdin: 0 stored (a report past INBOUND_MAX_BYTES is cut there), 75 try again later (database away).',
    ].join('\n'),
    parse: (args, fail) => {
      const spec = { stdin: { type: 'boolean', default: false }, recipient: { type: 'string' } } as const
      const { values, positionals } = options(args, spec, fail)
      if (positionals.length > 0) throw fail(`unexpected argument "${positionals[0]}"`)
      const { stdin, recipient } = values as { stdin: boolean; recipient?: string }
      if (recipient !== undefined && !stdin) throw fail('--recipient goes with --stdin')
      if (!stdin) return () => serve(['inbound'])
      return () =>
        oneShot(async (container) => (await import('./entrypoints/inbound.js')).receiveStdin(container, process.stdin, recipient))
    },
  },
  {
    name: 'webhooks',
    summary: 'webhook delivery: signed POSTs of every event to the endpoints that want it',
    parse: noArguments(() => serve(['webhooks'])),
  },
  {
    name: 'all',
    summary: 'the api, worker, smtp, inbound and webhooks roles in one process',
    parse: noArguments(() => serve(['worker', 'api', 'smtp', 'inbound', 'webhooks'])),
  },
  {
    name: 'migrate',
    summary: 'apply database migrations',
    details: 'Applies pending SQL migrations, then the data migrations that need the application. Safe to run on every deploy.',
    parse: noArguments(async () => {
      const { config, logger } = await boot()
      const { runMigrate } = await import('./entrypoints/migrate.js')
      return runMigrate(config, logger)
    }),
  },
  {
    name: 'keys create',
    args: '--account ID [--scope full|send] [--name NAME]',
    summary: 'create an API key; prints it',
    details: [
      'Options:',
      '  --account ID        the account (its id, a UUID)',
      '  --scope full|send   full (the default) or send, which may only send mail',
      '  --name NAME         a label shown when keys are listed',
    ].join('\n'),
    parse: (args, fail) => {
      const spec = { account: { type: 'string' }, scope: { type: 'string', default: 'full' }, name: { type: 'string' } } as const
      const { values, positionals } = options(args, spec, fail)
      if (positionals.length > 0) throw fail(`unexpected argument "${positionals[0]}"`)
      const { account, scope, name } = values as { account?: string; scope: string; name?: string }
      if (!account) throw fail('--account is required')
      if (scope !== 'full' && scope !== 'send') throw fail(`--scope must be full or send (got "${scope}")`)
      if (!isUuid(account)) throw fail(`--account must be an account id, a UUID (got "${account}")`)
      return () => oneShot(async (container) => (await import('./entrypoints/admin.js')).createKey(container, account, scope, name))
    },
  },
  {
    name: 'dev-inbox',
    summary: 'loopback SMTP server storing messages under var/inbox',
    parse: noArguments(async () => {
      const { config, logger } = await boot()
      const { startDevInbox } = await import('./smtp/dev-inbox.js')
      const { stopOnSignals } = await import('./entrypoints/lifecycle.js')
      const inbox = await startDevInbox({
        host: '127.0.0.1',
        port: config.devInboxPort,
        dir: config.devInboxDir,
        logger,
        maxBytes: config.maxMessageBytes,
        closeTimeoutMs: config.shutdownTimeoutMs,
      })
      logger.info({ port: inbox.port, dir: config.devInboxDir }, 'dev inbox listening')
      stopOnSignals(logger, config.shutdownTimeoutMs, inbox.close)
      return undefined
    }),
  },
  {
    name: 'retention',
    summary: 'run one retention pass now; prints what it purged as JSON',
    details:
      "Workers run retention on their own every minute (RETENTION_BODIES, RETENTION_METADATA, or an account's own). This runs one bounded pass at once, for a check or a script.",
    parse: noArguments(() =>
      oneShot(async (container) => {
        const started = Date.now()
        const done = await container.services.retention.pass()
        return JSON.stringify({ ...done, ms: Date.now() - started })
      }),
    ),
  },
  ...ACCOUNT_COMMANDS,
  {
    name: 'dev-key',
    summary: 'print the development API key, creating it on first use',
    parse: noArguments(() => oneShot(async (container) => (await import('./entrypoints/admin.js')).ensureDevKey(container))),
  },
  {
    name: 'config',
    summary: 'list configuration variables',
    details: 'Prints every variable with its meaning and what a valid value looks like. Reads no configuration.',
    parse: noArguments(async () => {
      for (const { key, description, expect } of describeConfig()) out(`${key.padEnd(24)} ${description} (${expect})`)
      return 0
    }),
  },
  {
    name: 'help',
    args: '[COMMAND]',
    summary: 'this list, or the usage of one command',
    parse: (args, fail) => {
      const { positionals } = options(args, {}, fail)
      const { command, group, rest } = lookUp(positionals)
      const text =
        positionals.length === 0 ? overview() : rest.length > 0 ? undefined : command ? usageOf(command) : group && groupUsage(group)
      if (!text) throw new UsageError(`unknown command "${positionals.join(' ')}"`, overview())
      return async () => {
        out(text)
        return 0
      }
    },
  },
]

// --- Usage texts ----------------------------------------------------------------------------------

const usageLine = (c: Command) => `hikyaku ${c.name}${c.args ? ` ${c.args}` : ''}`

const usageOf = (c: Command) =>
  [`Usage: ${usageLine(c)}`, '', c.summary.charAt(0).toUpperCase() + c.summary.slice(1), ...(c.details ? ['', c.details] : [])].join('\n')

const groupUsage = (group: string) => {
  const members = COMMANDS.filter((c) => c.name.startsWith(`${group} `))
  return [
    ...members.map((c, i) => `${i === 0 ? 'Usage:' : '      '} ${usageLine(c)}`),
    '',
    ...members.map((c) => `  ${c.name}: ${c.summary}`),
  ].join('\n')
}

function overview(): string {
  const lines = COMMANDS.map((c) => {
    const head = `${c.name}${c.args ? ` ${c.args}` : ''}`
    return head.length < 25 ? `  ${head.padEnd(25)}${c.summary}` : `  ${head}\n  ${''.padEnd(25)}${c.summary}`
  })
  return [
    'Usage: hikyaku <command>',
    '',
    ...lines,
    '',
    '"hikyaku <command> --help" shows the usage of one command.',
    'Configuration comes from the environment; see "hikyaku config".',
  ].join('\n')
}

/** The command named by the first one or two words of argv; `group` when the first word is one. */
function lookUp(argv: string[]): { command?: Command; group?: string; rest: string[] } {
  const [first = '', second = ''] = argv
  const two = COMMANDS.find((c) => c.name === `${first} ${second}`)
  if (two) return { command: two, rest: argv.slice(2) }
  const one = COMMANDS.find((c) => c.name === first)
  if (one) return { command: one, rest: argv.slice(1) }
  const group = COMMANDS.some((c) => c.name.startsWith(`${first} `)) ? first : undefined
  return { group, rest: argv.slice(group ? 1 : 0) }
}

/** `--help` or `-h` among the arguments (before a `--`). */
const wantsHelp = (args: string[]) => {
  const end = args.indexOf('--')
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

type Role = 'worker' | 'api' | 'smtp' | 'inbound' | 'webhooks'

/**
 * Starts the roles in this order and serves until SIGTERM/SIGINT, which stops them all at once,
 * then closes the container.
 */
async function serve(roles: Role[]): Promise<undefined> {
  const { config, logger } = await boot()
  const { createContainer } = await import('./container.js')
  const { stopOnSignals } = await import('./entrypoints/lifecycle.js')
  const container = createContainer(config, { logger })
  const start: Record<Role, () => Promise<Stop>> = {
    worker: async () => (await import('./entrypoints/worker.js')).startWorker(container),
    api: async () => (await import('./entrypoints/api.js')).startApi(container),
    smtp: async () => (await (await import('./entrypoints/smtp.js')).startSmtp(container)).close,
    inbound: async () => (await import('./entrypoints/inbound.js')).startInboundRole(container),
    webhooks: async () => (await import('./entrypoints/webhooks.js')).startWebhooks(container),
  }
  const stops: Stop[] = []
  try {
    for (const role of roles) stops.push(await start[role]())
  } catch (err) {
    // A part that cannot start stops the whole process: half a Hikyaku must not look healthy.
    for (const stop of stops.reverse()) await stop().catch(() => {})
    await container.close().catch(() => {})
    throw err
  }
  // One metrics and health listener per process, whatever roles it runs; it never stops the process.
  stops.push((await (await import('./entrypoints/metrics.js')).startMetrics(container, roles)).stop)
  // Every role stops at once, each bounded by SHUTDOWN_TIMEOUT (the listeners give open sessions
  // and requests that long, the worker its deliveries in flight), so that `all` takes no longer
  // than one role alone; one after another, the worker's drain would start only once SMTP and
  // HTTP had waited out theirs. The pools close last, once nothing uses them.
  stopOnSignals(logger, config.shutdownTimeoutMs, async () => {
    const stopped = await Promise.allSettled(stops.map((stop) => stop()))
    await container.close()
    const failed = stopped.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed) throw failed.reason
  })
  return undefined
}

/** Exit status: 0 done (or help asked for), 1 failed, 2 usage error. */
async function main(argv: string[]): Promise<number | undefined> {
  if (argv.length === 0) throw new UsageError('no command given', overview())
  if (argv[0] === '--help' || argv[0] === '-h') {
    out(overview())
    return 0
  }
  const { command, group, rest } = lookUp(argv)
  if (!command) {
    if (group && wantsHelp(rest)) {
      out(groupUsage(group))
      return 0
    }
    if (group) throw new UsageError(rest.length ? `unknown command "${group} ${rest[0]}"` : `"${group}" needs a command`, groupUsage(group))
    throw new UsageError(`unknown command "${argv[0]}"`, overview())
  }
  if (wantsHelp(rest)) {
    out(usageOf(command))
    return 0
  }
  return command.parse(rest, (problem) => new UsageError(problem, usageOf(command)))()
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code
  },
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`hikyaku: ${err.message}\n\n${err.usage}\n`)
      process.exitCode = 2
      return
    }
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`)
    // The application's own errors (an unknown account, a bad value) say what is wrong: no stack trace.
    else if (err instanceof Error && err.name === 'AppError') process.stderr.write(`hikyaku: ${err.message}\n`)
    else process.stderr.write(`hikyaku: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  },
)
