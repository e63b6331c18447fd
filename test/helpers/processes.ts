import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
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

/**
 * A private redis-server on its own loopback port, for tests that flush or stop Redis: the
 * shared instance other test files use is never touched.
 */
export async function startPrivateRedis(options: { port?: number } = {}) {
  const port = options.port ?? (await freePort())
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  })
  const url = `redis://127.0.0.1:${port}`
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  await waitFor(
    'private redis',
    async () => {
      await client.connect().catch(() => {})
      return (await client.ping()) === 'PONG' ? true : undefined
    },
    10_000,
    100,
  )
  return {
    url,
    client,
    async stop() {
      client.disconnect()
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    },
  }
}

/**
 * A private PostgreSQL cluster (initdb + pg_ctl from the installed server) on its own port, for
 * tests that stop the database: the shared server is never touched. Runs as `postgres` when
 * this process is root, since the server refuses to run as root.
 */
export async function startPrivatePostgres(migrationsDir: string) {
  const versions = readdirSync('/usr/lib/postgresql').filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
  const bin = `/usr/lib/postgresql/${versions.sort().at(-1)}/bin`
  const dir = mkdtempSync(join(tmpdir(), 'hikyaku-pg-'))
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  const port = await freePort()
  const asServer = (cmd: string, args: string[]) =>
    process.getuid?.() === 0
      ? execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', [cmd, ...args].map((a) => `'${a}'`).join(' ')])
      : execFileSync(cmd, args)
  asServer(`${bin}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off`
  const start = () => asServer(`${bin}/pg_ctl`, ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start'])
  const stop = () => asServer(`${bin}/pg_ctl`, ['-D', data, '-m', 'fast', '-w', 'stop'])
  start()
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`
  await migrate(url, migrationsDir)
  return {
    url,
    stop: async () => void stop(),
    start: async () => void start(),
    async destroy() {
      try {
        stop()
      } catch {}
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
