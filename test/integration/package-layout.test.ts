import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createTestDatabase, TEST_REDIS_URL, waitFor } from '../helpers/env.js'
import { freePort } from '../helpers/processes.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The `COPY` lines of each stage of the Dockerfile: [sources, destination, from stage]. */
function copies(): Array<{ stage: number; from?: string; sources: string[]; dest: string }> {
  const out: Array<{ stage: number; from?: string; sources: string[]; dest: string }> = []
  let stage = -1
  for (const line of readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n')) {
    if (/^FROM\s/i.test(line)) stage++
    const m = /^COPY\s+(?:--from=(\S+)\s+)?(.+)$/i.exec(line.trim())
    if (!m) continue
    const parts = (m[2] as string).split(/\s+/)
    out.push({ stage, from: m[1], sources: parts.slice(0, -1), dest: parts[parts.length - 1] as string })
  }
  return out
}

const copyInto = (from: string, sources: string[], root: string, dest: string) => {
  for (const source of sources) {
    const target = dest.endsWith('/') || sources.length > 1 ? join(root, dest, source.split('/').pop() as string) : join(root, dest)
    mkdirSync(dirname(target), { recursive: true })
    cpSync(join(from, source), target, { recursive: true })
  }
}

/**
 * The image as the Dockerfile builds it, without Docker: the build stage's files copied into a
 * directory of their own and built with the package's own build script, then only what the
 * runtime stage copies from it (no sources). `hikyaku api` starts from that and serves the API
 * and the dashboard, whose templates and stylesheet the build copies into dist.
 */
describe('the package as the Docker image ships it', () => {
  let build: string
  let image: string
  let db: Awaited<ReturnType<typeof createTestDatabase>>

  before(() => {
    build = mkdtempSync(join(tmpdir(), 'hikyaku-build-'))
    image = mkdtempSync(join(tmpdir(), 'hikyaku-image-'))
    for (const c of copies().filter((c) => c.stage === 0)) copyInto(ROOT, c.sources, build, c.dest)
    // `npm ci` in the image installs these; the tree's own serve here.
    symlinkSync(join(ROOT, 'node_modules'), join(build, 'node_modules'))
    cpSync(join(ROOT, 'src/generated'), join(build, 'src/generated'), { recursive: true })
    const script = (JSON.parse(readFileSync(join(build, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build
    execFileSync('sh', ['-c', script], {
      cwd: build,
      env: { ...process.env, PATH: `${join(build, 'node_modules/.bin')}:${process.env.PATH}` },
      stdio: 'pipe',
    })
    for (const c of copies().filter((c) => c.stage === 1 && c.from === 'build')) {
      copyInto(
        build,
        c.sources.map((s) => s.replace(/^\/app\//, '')),
        image,
        c.dest,
      )
    }
  })
  after(async () => {
    rmSync(build, { recursive: true, force: true })
    rmSync(image, { recursive: true, force: true })
    await db?.drop()
  })

  it('starts the api from the runtime files alone and serves the dashboard', async () => {
    db = await createTestDatabase()
    const port = await freePort()
    const child = spawn(process.execPath, ['bin/hikyaku.js', 'api'], {
      cwd: image,
      env: {
        PATH: process.env.PATH ?? '',
        HIKYAKU_ENV: 'development',
        HIKYAKU_VAR_DIR: join(image, 'var'),
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
