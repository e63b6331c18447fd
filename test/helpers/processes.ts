import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { migrate } from '../../src/infra/migrator.js'
import { waitFor } from './env.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Spawned {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

/** Runs `hikyaku <args>` from the sources in a child process, with the given environment. */
export function spawnHikyaku(args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, output: () => output, exited }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/** Resolves once `child` has exited (at once if it already has). */
const exitOf = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()))

/**
 * A private redis-server on its own loopback port, for tests that flush or stop Redis: the
 * shared instance other test files use is never touched. With `persistent`, it keeps an
 * append-only file (fsync every second) in a directory of its own, as production should, so
 * `restart()` brings back what was written before it; without, it keeps nothing.
 */
export async function startPrivateRedis(options: { port?: number; persistent?: boolean } = {}) {
  const port = options.port ?? (await freePort())
  const dir = options.persistent ? mkdtempSync(join(tmpdir(), 'hikyaku-redis-')) : undefined
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--maxmemory-policy', 'noeviction']
  if (dir) args.push('--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec')
  else args.push('--appendonly', 'no')
  let child: ChildProcess | undefined
  const url = `redis://127.0.0.1:${port}`
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  const start = async () => {
    child = spawn('redis-server', args, { stdio: 'ignore' })
    await waitFor(
      'private redis',
      async () => {
        if (client.status === 'wait' || client.status === 'end') await client.connect().catch(() => {})
        return (await client.ping()) === 'PONG' ? true : undefined
      },
      10_000,
      100,
    )
  }
  /** Stops the server (SIGTERM: it writes its append-only file and exits), SIGKILL after 10 s. */
  const halt = async () => {
    if (!child) return
    const running = child
    running.kill('SIGTERM')
    const timer = setTimeout(() => running.kill('SIGKILL'), 10_000)
    await exitOf(running)
    clearTimeout(timer)
  }
  const stop = async () => {
    client.disconnect()
    await halt()
  }
  await start()
  return {
    url,
    port,
    client,
    /** Stops the server and disconnects `client`. */
    stop,
    /** Starts it again on the same port (and directory), once stopped. */
    start,
    /** Stops the server and, `downMs` later, starts it again on the same port and directory; `client` reconnects. */
    async restart(downMs = 0) {
      await halt()
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs))
      await start()
    },
    /** Stops it and removes its directory. */
    async destroy() {
      await stop()
      if (dir) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * A private PostgreSQL cluster (initdb + pg_ctl from the installed server) on its own port, for
 * tests that stop the database: the shared server is never touched. Runs as `postgres` when
 * this process is root, since the server refuses to run as root. It runs with fsync=off: a
 * restart loses nothing (a fast shutdown writes a checkpoint), only a machine crash would.
 * Migrated from `migrationsDir` when one is given.
 */
export async function startPrivatePostgres(migrationsDir?: string) {
  const versions = readdirSync('/usr/lib/postgresql').filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
  const bin = `/usr/lib/postgresql/${versions.sort().at(-1)}/bin`
  const dir = mkdtempSync(join(tmpdir(), 'hikyaku-pg-'))
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  const port = await freePort()
  const command = (cmd: string, args: string[]): [string, string[]] =>
    process.getuid?.() === 0 ? ['su', ['postgres', '-s', '/bin/sh', '-c', [cmd, ...args].map((a) => `'${a}'`).join(' ')]] : [cmd, args]
  // Asynchronous, so that a process serving other things meanwhile (a sink, a load) is not frozen.
  const asServer = (cmd: string, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const [file, argv] = command(cmd, args)
      execFile(file, argv, { timeout: 60_000 }, (err, _stdout, stderr) =>
        err ? reject(new Error(`${cmd} ${args[0] ?? ''} failed: ${stderr || err.message}`)) : resolve(),
      )
    })
  const [initdb, initdbArgs] = command(`${bin}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  execFileSync(initdb, initdbArgs, { stdio: 'ignore' })
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off`
  const ctl = (action: string, ...extra: string[]) => asServer(`${bin}/pg_ctl`, [action, '-D', data, ...extra, '-w'])
  const start = () => ctl('start', '-o', options, '-l', join(dir, 'log'))
  const stop = () => ctl('stop', '-m', 'fast')
  await start()
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`
  if (migrationsDir) await migrate(url, migrationsDir)
  return {
    url,
    port,
    /** The server's log file. */
    log: join(dir, 'log'),
    stop,
    start,
    /** `pg_ctl restart -m fast`: every connection is cut, and the server is back when this resolves. */
    restart: () => ctl('restart', '-m', 'fast', '-o', options, '-l', join(dir, 'log')),
    /**
     * Sets a server option on this cluster only (`ALTER SYSTEM`, then `pg_reload_conf()`), or
     * with `null` resets it; resolves once a new session sees the change. Options the
     * server reads only at start need `restart()` as well.
     */
    async setOption(name: string, value: string | null) {
      if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw new Error(`not an option name: ${name}`)
      const admin = new pg.Client({ connectionString: url })
      await admin.connect()
      try {
        await admin.query(value === null ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = ${admin.escapeLiteral(value)}`)
        await admin.query('SELECT pg_reload_conf()')
      } finally {
        await admin.end()
      }
      await waitFor(
        `${name} applied`,
        async () => {
          const session = new pg.Client({ connectionString: url })
          await session.connect()
          try {
            const { rows } = await session.query<{ setting: string; sourcefile: string | null }>(
              'SELECT setting, sourcefile FROM pg_settings WHERE name = $1',
              [name],
            )
            const row = rows[0]
            const fromAutoConf = (row?.sourcefile ?? '').endsWith('postgresql.auto.conf')
            return (value === null ? !fromAutoConf : fromAutoConf && row?.setting === value) ? true : undefined
          } finally {
            await session.end()
          }
        },
        10_000,
        50,
      )
    },
    async destroy() {
      await stop().catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
