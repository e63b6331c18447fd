import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { spawnHikyaku } from '../helpers/processes.js'

/**
 * The CLI never hangs: help, usage errors and unknown commands answer at once, before any
 * configuration is loaded or connection opened. PostgreSQL and Redis point at a listener that
 * accepts and never answers, so a command that connected would hang (and be killed and failed
 * here) and would show in its connection count. Development mode without HIKYAKU_SECRET writes
 * var/secret when the configuration loads, so an empty var dir shows it never did.
 */
const BOUND_MS = 10_000

let blackHole: Server
const connections: Socket[] = []
let varDir: string
let env: Record<string, string>

before(async () => {
  blackHole = createServer((socket) => {
    connections.push(socket)
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
  const { port } = blackHole.address() as { port: number }
  varDir = mkdtempSync(join(tmpdir(), 'hikyaku-cli-'))
  env = {
    HIKYAKU_ENV: 'development',
    HIKYAKU_VAR_DIR: varDir,
    DATABASE_URL: `postgresql://x:y@127.0.0.1:${port}/none`,
    REDIS_URL: `redis://127.0.0.1:${port}`,
    LOG_LEVEL: 'silent',
  }
})

after(async () => {
  for (const socket of connections) socket.destroy()
  await new Promise((resolve) => blackHole.close(resolve))
  rmSync(varDir, { recursive: true, force: true })
})

/** Runs `hikyaku <args>`; fails (after killing it) if it is still running after BOUND_MS. */
async function hikyaku(args: string[]): Promise<{ code: number | null; output: string }> {
  const run = spawnHikyaku(args, env)
  const closed = new Promise<void>((resolve) => run.child.once('close', () => resolve()))
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), BOUND_MS)
  })
  const code = await Promise.race([run.exited, timedOut])
  clearTimeout(timer)
  if (code === 'timeout') {
    run.child.kill('SIGKILL')
    await closed
    assert.fail(`hikyaku ${args.join(' ')} was still running after ${BOUND_MS} ms:\n${run.output()}`)
  }
  await closed
  return { code, output: run.output() }
}

const nothingLoadedOrConnected = (args: string[]) => {
  assert.equal(connections.length, 0, `hikyaku ${args.join(' ')} opened a connection`)
  assert.equal(existsSync(join(varDir, 'secret')), false, `hikyaku ${args.join(' ')} loaded the configuration`)
}

describe('hikyaku without a usable command prints its usage and exits non-zero', { concurrency: 4 }, () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /Usage: hikyaku <command>/],
    [['bogus'], /unknown command "bogus"/],
    [['--bogus'], /unknown command "--bogus"/],
    [['accounts'], /Usage: hikyaku accounts create NAME/],
    [['accounts', 'delete', 'x'], /Usage: hikyaku accounts create NAME/],
    [['accounts', 'create'], /Usage: hikyaku accounts create NAME/],
    [['accounts', 'list', '--limit', '0'], /--limit must be a number from 1 to 10000/],
    [['accounts', 'list', 'extra'], /Usage: hikyaku accounts list/],
    [['accounts', 'suspend'], /--account must be an account id/],
    [['accounts', 'suspend', '--account', '00000000-0000-4000-8000-000000000000'], /--reason is required/],
    [['accounts', 'unsuspend', '--account', 'nope'], /--account must be an account id/],
    [['keys'], /Usage: hikyaku keys create --account ID/],
    [['keys', 'create'], /--account is required/],
    [['keys', 'create', '--account', 'x', '--scope', 'bad'], /--scope must be full or send/],
    [['keys', 'create', '--account', 'not-a-uuid'], /--account must be an account id/],
    [['keys', 'create', '--acount', '00000000-0000-4000-8000-000000000000'], /Unknown option '--acount'/],
    [['worker', '--concurrency', '5'], /Usage: hikyaku worker/],
    [['api', 'extra'], /Usage: hikyaku api/],
    [['help', 'bogus'], /unknown command "bogus"/],
  ]
  for (const [args, expected] of cases) {
    it(`hikyaku ${args.join(' ') || '(no arguments)'}`, async () => {
      const { code, output } = await hikyaku(args)
      assert.equal(code, 2, output)
      assert.match(output, /Usage/)
      assert.match(output, expected)
      nothingLoadedOrConnected(args)
    })
  }
})

describe('hikyaku --help, and --help on every command, print usage and exit 0', { concurrency: 4 }, () => {
  const cases: Array<[string[], RegExp]> = [
    [['--help'], /Usage: hikyaku <command>/],
    [['-h'], /Usage: hikyaku <command>/],
    [['help'], /Usage: hikyaku <command>/],
    [['help', 'keys', 'create'], /Usage: hikyaku keys create --account ID/],
    [['api', '--help'], /Usage: hikyaku api\n/],
    [['worker', '--help'], /Usage: hikyaku worker\n/],
    [['smtp', '--help'], /Usage: hikyaku smtp\n/],
    [['all', '-h'], /Usage: hikyaku all\n/],
    [['migrate', '--help'], /Usage: hikyaku migrate\n/],
    [['accounts', '--help'], /Usage: hikyaku accounts create NAME/],
    [['accounts', 'create', '--help'], /Usage: hikyaku accounts create NAME/],
    [['accounts', '-h'], /hikyaku accounts suspend --account ID --reason TEXT/],
    [['accounts', 'list', '--help'], /Usage: hikyaku accounts list \[--search TEXT\] \[--limit N\] \[--json\]/],
    [['accounts', 'suspend', '--help'], /Usage: hikyaku accounts suspend --account ID --reason TEXT/],
    [['help', 'accounts', 'unsuspend'], /Usage: hikyaku accounts unsuspend --account ID/],
    [['keys', '--help'], /Usage: hikyaku keys create --account ID/],
    [['keys', 'create', '--help'], /Usage: hikyaku keys create --account ID/],
    [['keys', 'create', '--account', 'x', '--help'], /Usage: hikyaku keys create --account ID/],
    [['dev-inbox', '--help'], /Usage: hikyaku dev-inbox\n/],
    [['dev-key', '--help'], /Usage: hikyaku dev-key\n/],
    [['config', '--help'], /Usage: hikyaku config\n/],
  ]
  for (const [args, expected] of cases) {
    it(`hikyaku ${args.join(' ')}`, async () => {
      const { code, output } = await hikyaku(args)
      assert.equal(code, 0, output)
      assert.match(output, expected)
      nothingLoadedOrConnected(args)
    })
  }
})

describe('hikyaku config', () => {
  it('lists every variable with what it expects, without loading the configuration', async () => {
    const { code, output } = await hikyaku(['config'])
    assert.equal(code, 0, output)
    assert.match(output, /^DELIVERY_LEASE +.*a duration from 1s to 24d/m)
    assert.match(output, /^HIKYAKU_SECRET +.*openssl rand -base64 32/m)
    nothingLoadedOrConnected(['config'])
  })
})
