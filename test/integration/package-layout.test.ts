import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createTestDatabase, TEST_REDIS_URL, waitFor } from '../helpers/env.js'
import { freePort } from '../helpers/processes.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/**
 * The built package as the Docker image ships it (package.json, node_modules, dist, bin, prisma;
 * no src): compiled afresh into a directory of its own, `hikyaku api` starts from it and serves
 * the API and the dashboard, whose templates and stylesheet the build copies into dist.
 */
describe('the package as it ships, without its sources', () => {
  let dir: string
  let db: Awaited<ReturnType<typeof createTestDatabase>>

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hikyaku-package-'))
    for (const entry of ['package.json', 'bin', 'prisma']) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist'), '--incremental', 'false'],
      { cwd: ROOT, stdio: 'pipe' },
    )
    execFileSync(process.execPath, ['scripts/copy-assets.mjs', join(dir, 'dist')], { cwd: ROOT, stdio: 'pipe' })
  })
  after(async () => {
    rmSync(dir, { recursive: true, force: true })
    await db?.drop()
  })

  it('starts the api and serves the dashboard', async () => {
    db = await createTestDatabase()
    const port = await freePort()
    const child = spawn(process.execPath, ['bin/hikyaku.js', 'api'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        HIKYAKU_ENV: 'development',
        HIKYAKU_VAR_DIR: join(dir, 'var'),
        DATABASE_URL: db.url,
        REDIS_URL: TEST_REDIS_URL,
        PORT: String(port),
        METRICS_PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (c) => {
      output += c
    })
    child.stderr.on('data', (c) => {
      output += c
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`).then(async (r) => ({ status: r.status, body: await r.text() }))
      await waitFor('the api to answer', () => get('/healthz').then((r) => (r.status === 200 ? true : undefined)), 20_000, 200).catch(
        (err) => {
          throw new Error(`${err}\n${output}`)
        },
      )
      const login = await get('/dashboard/login')
      assert.equal(login.status, 200)
      assert.match(login.body, /Sign in to Hikyaku/)
      assert.equal((await get('/dashboard/static/app.css')).status, 200)
    } finally {
      child.kill('SIGTERM')
      await exited
    }
  })
})
