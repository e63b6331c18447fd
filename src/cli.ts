import { parseArgs } from 'node:util'
import { ConfigError, describeConfig, loadConfig } from './config.js'
import { createContainer } from './container.js'
import { createAccount, createKey, ensureDevKey } from './entrypoints/admin.js'
import { startApi } from './entrypoints/api.js'
import { type Stop, stopOnSignals } from './entrypoints/lifecycle.js'
import { runMigrate } from './entrypoints/migrate.js'
import { startSmtp } from './entrypoints/smtp.js'
import { startWorker } from './entrypoints/worker.js'
import { createLogger } from './infra/logger.js'
import { startDevInbox } from './smtp/dev-inbox.js'

const USAGE = `Usage: hikyaku <command>

  api                      HTTP API
  worker                   delivery workers and the sweeper
  smtp                     SMTP submission listeners (STARTTLS and implicit TLS)
  all                      api + worker + smtp in one process
  migrate                  apply database migrations
  accounts create NAME     create an account; prints its full-access API key
  keys create --account ID [--scope full|send] [--name NAME]
                           create an API key; prints it
  dev-inbox                loopback SMTP server storing messages under var/inbox
  dev-key                  print the development API key, creating it on first use
  config                   list configuration variables

Configuration comes from the environment; see "hikyaku config".`

const out = (line: string) => process.stdout.write(`${line}\n`)

// `hikyaku config | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
})

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    out(USAGE)
    return command ? 0 : 2
  }
  if (command === 'config') {
    for (const { key, description, expect } of describeConfig()) out(`${key.padEnd(24)} ${description} (${expect})`)
    return 0
  }
  const config = loadConfig()
  const logger = createLogger(config.logLevel)

  if (command === 'migrate') return runMigrate(config, logger)
  if (command === 'dev-inbox') {
    const inbox = await startDevInbox({
      host: '127.0.0.1',
      port: config.devInboxPort,
      dir: config.devInboxDir,
      logger,
      maxBytes: config.maxMessageBytes,
    })
    logger.info({ port: inbox.port, dir: config.devInboxDir }, 'dev inbox listening')
    stopOnSignals(logger, config.shutdownTimeoutMs, inbox.close)
    return -1
  }

  const container = createContainer(config, { logger })
  const oneShot = async (fn: () => Promise<string>) => {
    try {
      out(await fn())
      return 0
    } finally {
      await container.close()
    }
  }
  switch (command) {
    case 'accounts': {
      if (rest[0] !== 'create' || !rest[1]) throw new UsageError('hikyaku accounts create NAME')
      return oneShot(() => createAccount(container, rest.slice(1).join(' ')))
    }
    case 'keys': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { account: { type: 'string' }, scope: { type: 'string', default: 'full' }, name: { type: 'string' } },
      })
      if (positionals[0] !== 'create' || !values.account || !['full', 'send'].includes(values.scope as string)) {
        throw new UsageError('hikyaku keys create --account ID [--scope full|send] [--name NAME]')
      }
      return oneShot(() => createKey(container, values.account as string, values.scope as 'full' | 'send', values.name))
    }
    case 'dev-key':
      return oneShot(() => ensureDevKey(container))
    case 'api':
    case 'worker':
    case 'smtp':
    case 'all': {
      const stops: Stop[] = []
      const runs = (role: string) => command === role || command === 'all'
      try {
        if (runs('worker')) stops.push(await startWorker(container))
        if (runs('api')) stops.push(await startApi(container))
        if (runs('smtp')) stops.push((await startSmtp(container)).close)
      } catch (err) {
        // A part that cannot start stops the whole process: half a Hikyaku must not look healthy.
        for (const stop of stops.reverse()) await stop().catch(() => {})
        await container.close().catch(() => {})
        throw err
      }
      // Stop in reverse: first stop taking requests, then finish deliveries, then close pools.
      stopOnSignals(logger, config.shutdownTimeoutMs, async () => {
        for (const stop of stops.reverse()) await stop()
        await container.close()
      })
      return -1
    }
    default:
      throw new UsageError(USAGE)
  }
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (err) => {
    if (err instanceof ConfigError || err instanceof UsageError) process.stderr.write(`${err.message}\n`)
    else process.stderr.write(`hikyaku: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  },
)
