import { type ParseArgsConfig, parseArgs } from 'node:util'
import { type Config, loadConfig } from './config.js'
import type { Container } from './container.js'
import type { Logger } from './infra/logger.js'

/** The pieces every `hikyaku` command is built from (cli.ts holds the table and runs it). */

/** A command's work, once its arguments are known good. A number is the exit code; undefined
 * means the process keeps serving until a signal stops it. */
export type Run = () => Promise<number | undefined>

export interface Command {
  /** One word, or two for a group (`keys create`). */
  name: string
  /** What follows the name in the usage line. */
  args?: string
  summary: string
  /** More lines for `hikyaku <command> --help`: options, output, exit status. */
  details?: string
  /** Checks the arguments (throwing `fail(problem)`) and returns the work. Loads nothing. */
  parse: (args: string[], fail: Fail) => Run
}

export type Fail = (problem: string) => UsageError

export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message)
  }
}

// --- Argument checks --------------------------------------------------------------------------------

/** parseArgs, strict: an unknown option or a missing value is a usage error. */
export function options(args: string[], spec: NonNullable<ParseArgsConfig['options']>, fail: Fail) {
  try {
    return parseArgs({ args, options: spec, allowPositionals: true, strict: true })
  } catch (err) {
    throw fail((err as Error).message)
  }
}

/** The parser of a command that takes no arguments. */
export function noArguments(run: Run): Command['parse'] {
  return (args, fail) => {
    const { positionals } = options(args, {}, fail)
    if (positionals.length > 0) throw fail(`unexpected argument "${positionals[0]}"`)
    return run
  }
}

// --- Running ------------------------------------------------------------------------------------------

export const out = (text: string) => process.stdout.write(`${text}\n`)

// `hikyaku config | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
})

export async function boot(): Promise<{ config: Config; logger: Logger }> {
  const config = loadConfig()
  const { createLogger } = await import('./infra/logger.js')
  return { config, logger: createLogger(config.logLevel) }
}

/** Runs `fn` against a container, prints what it returns, and closes the container. */
/** Runs one command's work; a string is printed (exit 0), a number is the exit status. */
export async function oneShot(fn: (container: Container) => Promise<string | number>): Promise<number> {
  const { config, logger } = await boot()
  const { createContainer } = await import('./container.js')
  const container = createContainer(config, { logger })
  try {
    const result = await fn(container)
    if (typeof result === 'number') return result
    out(result)
    return 0
  } finally {
    await container.close()
  }
}
