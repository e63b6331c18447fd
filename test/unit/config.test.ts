import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CONFIG_DOC, ENV_EXAMPLE, renderConfigDoc, renderEnvExample } from '../../scripts/config-docs.js'
import { CONFIG_KEYS, ConfigError, loadConfig } from '../../src/config.js'

describe('loadConfig', () => {
  it('gives development defaults and a generated secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hk-config-'))
    try {
      const config = loadConfig({ HIKYAKU_ENV: 'development', HIKYAKU_VAR_DIR: dir })
      assert.equal(config.host, '127.0.0.1')
      assert.equal(config.smtpRelayUrl, 'smtp://127.0.0.1:2525')
      assert.ok(config.secret.length >= 32)
      assert.equal(loadConfig({ HIKYAKU_ENV: 'development', HIKYAKU_VAR_DIR: dir }).secret, config.secret)
      // `npm start` runs every listener at once on their defaults: no two may share a port.
      const ports = [config.port, config.smtpPort, config.smtpsPort, config.devInboxPort, config.inboundPort]
      assert.equal(new Set(ports).size, ports.length, `development ports collide: ${ports.join(', ')}`)
    } finally {
      rmSync(dir, { recursive: true })
    }
  })
  it('lets an environment variable win over a default', () => {
    const config = loadConfig({
      HIKYAKU_ENV: 'development',
      HIKYAKU_SECRET: 's',
      SMTP_RELAY_URL: 'smtps://u:p@relay.example.com:465',
      RETRY_SCHEDULE: '500ms,2s,1m',
      MAX_DELIVERY_AGE: '2h',
    })
    assert.equal(config.smtpRelayUrl, 'smtps://u:p@relay.example.com:465')
    assert.deepEqual(config.retryScheduleMs, [500, 2000, 60_000])
    assert.equal(config.maxDeliveryAgeMs, 7_200_000)
  })
  it('refuses production without its required keys, listing all of them at once', () => {
    assert.throws(
      () => loadConfig({}),
      (err: unknown) =>
        err instanceof ConfigError && ['DATABASE_URL', 'SMTP_RELAY_URL', 'HIKYAKU_SECRET'].every((k) => err.message.includes(k)),
    )
  })
  it('reports malformed values with what is expected', () => {
    assert.throws(
      () => loadConfig({ HIKYAKU_ENV: 'development', HIKYAKU_SECRET: 's', PORT: 'abc', RETRY_SCHEDULE: '1m,soon' }),
      (err: unknown) => err instanceof ConfigError && /PORT must be a port/.test(err.message) && /RETRY_SCHEDULE must be/.test(err.message),
    )
  })
})

describe('configuration reference', () => {
  it('documents every configuration variable', () => {
    // docs/configuration.md and .env.example are generated from CONFIG_KEYS: `npm run docs:config` rewrites them.
    const stale = 'stale: run `npm run docs:config` and commit the result'
    const doc = readFileSync(CONFIG_DOC, 'utf8')
    assert.equal(doc, renderConfigDoc(doc), `docs/configuration.md is ${stale}`)
    assert.equal(readFileSync(ENV_EXAMPLE, 'utf8'), renderEnvExample(), `.env.example is ${stale}`)
    const missing = Object.keys(CONFIG_KEYS).filter((key) => !doc.includes(`\n| \`${key}\` `))
    assert.deepEqual(missing, [])
  })
})

describe('configuration errors', () => {
  it('never print the password of a URL', () => {
    assert.throws(
      () => loadConfig({ HIKYAKU_ENV: 'development', HIKYAKU_SECRET: 's', DATABASE_URL: 'mysql://admin:hunter2@db/x' }),
      (err: unknown) => err instanceof ConfigError && err.message.includes('admin:***@db') && !err.message.includes('hunter2'),
    )
  })
})

/** Development with an explicit secret: touches no file, so each case is only about its keys. */
const DEV = { HIKYAKU_ENV: 'development', HIKYAKU_SECRET: 's' }
const PROD = { DATABASE_URL: 'postgresql://h:h@db/h', SMTP_RELAY_URL: 'smtp://relay.example.com:587' }

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env)
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

describe('configuration footguns', () => {
  const refused: Array<[Record<string, string>, string]> = [
    [{ DELIVERY_LEASE: '0s' }, 'DELIVERY_LEASE must be a duration from 1s to 24d'],
    [{ DELIVERY_LEASE: '500ms' }, 'DELIVERY_LEASE must be a duration from 1s'],
    [{ LEASE_RENEW_INTERVAL: '0s' }, 'LEASE_RENEW_INTERVAL must be a duration from 100ms'],
    [{ SWEEP_INTERVAL: '0s' }, 'SWEEP_INTERVAL must be a duration from 100ms'],
    [{ SWEEP_INTERVAL: '10ms' }, 'SWEEP_INTERVAL must be a duration from 100ms'],
    [{ MAX_DELIVERY_AGE: '0s' }, 'MAX_DELIVERY_AGE must be a duration from 1s to 365d'],
    [{ MAX_DELIVERY_AGE: '400d' }, 'MAX_DELIVERY_AGE must be a duration from 1s to 365d'],
    [{ SMTP_TIMEOUT: '0s' }, 'SMTP_TIMEOUT must be a duration from 100ms'],
    [{ SMTP_TIMEOUT: '30d' }, 'SMTP_TIMEOUT must be a duration from 100ms to 24d'],
    [{ SMTP_DATA_TIMEOUT: '0ms' }, 'SMTP_DATA_TIMEOUT must be a duration from 100ms'],
    [{ SMTP_TRANSACTION_TIMEOUT: '0s' }, 'SMTP_TRANSACTION_TIMEOUT must be a duration from 100ms'],
    [{ SHUTDOWN_TIMEOUT: '0s' }, 'SHUTDOWN_TIMEOUT must be a duration from 100ms'],
    [{ DB_STATEMENT_TIMEOUT: '0s' }, 'DB_STATEMENT_TIMEOUT must be a duration from 100ms'],
    [{ DNS_TIMEOUT: '0s' }, 'DNS_TIMEOUT must be a duration from 100ms'],
    [{ RATE_LIMIT_WINDOW: '0s' }, 'RATE_LIMIT_WINDOW must be a duration from 1s'],
    [{ SMTP_IDLE_TIMEOUT: '0s' }, 'SMTP_IDLE_TIMEOUT must be a duration from 1s'],
    [{ SMTP_AUTH_BLOCK: '0s' }, 'SMTP_AUTH_BLOCK must be a duration from 1s'],
    [{ RETRY_SCHEDULE: '1m,0s' }, 'RETRY_SCHEDULE must be durations from 100ms to 24d each'],
    [{ RETRY_SCHEDULE: '10ms' }, 'RETRY_SCHEDULE must be durations from 100ms'],
    [{ DELIVERY_LEASE: '10s', LEASE_RENEW_INTERVAL: '20s' }, 'LEASE_RENEW_INTERVAL (20s) must be at most half of DELIVERY_LEASE (10s)'],
    [{ LEASE_RENEW_INTERVAL: '31s' }, 'LEASE_RENEW_INTERVAL (31s) must be at most half of DELIVERY_LEASE (1m, the default)'],
    [
      { SMTP_TRANSACTION_TIMEOUT: '5m' },
      'SMTP_TRANSACTION_TIMEOUT (5m) must be at least SMTP_DATA_TIMEOUT (10m, the default) plus SMTP_TIMEOUT (1m, the default)',
    ],
    [
      { SMTP_TRANSACTION_TIMEOUT: '30s', SMTP_DATA_TIMEOUT: '10s' },
      'SMTP_TRANSACTION_TIMEOUT (30s) must be at least SMTP_DATA_TIMEOUT (10s) plus SMTP_TIMEOUT (1m, the default)',
    ],
    [
      { SMTP_TIMEOUT: '1m', SMTP_DATA_TIMEOUT: '1m', SMTP_TRANSACTION_TIMEOUT: '119s' },
      'SMTP_TRANSACTION_TIMEOUT (119s) must be at least SMTP_DATA_TIMEOUT (1m) plus SMTP_TIMEOUT (1m)',
    ],
  ]
  for (const [env, fragment] of refused) {
    it(`refuses ${JSON.stringify(env)}`, () => {
      const problems = problemsOf({ ...DEV, ...env })
      assert.ok(
        problems.some((p) => p.includes(fragment)),
        `expected a problem containing ${JSON.stringify(fragment)}, got ${JSON.stringify(problems)}`,
      )
    })
  }

  it('reports every footgun together in one error', () => {
    const env = Object.assign({}, ...refused.slice(0, 19).map(([e]) => e), { HIKYAKU_ENV: 'production', HIKYAKU_SECRET: 'x', ...PROD })
    const problems = problemsOf(env)
    for (const key of ['DELIVERY_LEASE', 'SWEEP_INTERVAL', 'MAX_DELIVERY_AGE', 'SMTP_TIMEOUT', 'RETRY_SCHEDULE', 'HIKYAKU_SECRET']) {
      assert.ok(
        problems.some((p) => p.startsWith(key)),
        `${key} missing from ${JSON.stringify(problems)}`,
      )
    }
  })

  // Every combination the tests, scripts and compose file set (test/helpers/env.ts, the
  // integration tests, scripts/bench/driver.mjs), plus the lowest renewal interval tests use.
  const accepted: Array<Record<string, string>> = [
    {},
    { RETRY_SCHEDULE: '200ms', MAX_DELIVERY_AGE: '1h', SWEEP_INTERVAL: '500ms', DELIVERY_LEASE: '1m', SMTP_TIMEOUT: '5s' },
    { DELIVERY_LEASE: '2s', SWEEP_INTERVAL: '500ms', RETRY_SCHEDULE: '200ms', SMTP_TIMEOUT: '60s' },
    { DELIVERY_LEASE: '2s', LEASE_RENEW_INTERVAL: '300ms', SWEEP_INTERVAL: '500ms' },
    { DELIVERY_LEASE: '1s', LEASE_RENEW_INTERVAL: '300ms' },
    { RETRY_SCHEDULE: '1s', SWEEP_INTERVAL: '500ms' },
    { RETRY_SCHEDULE: '200ms', MAX_DELIVERY_AGE: '3s' },
    { RETRY_SCHEDULE: '10m', DNS_TIMEOUT: '1s' },
    { RETRY_SCHEDULE: '500ms,2s,1m', MAX_DELIVERY_AGE: '2h' },
    { DNS_TIMEOUT: '2s', SHUTDOWN_TIMEOUT: '10s' },
    { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '1m' },
    { SMTP_AUTH_MAX_FAILURES: '3', SMTP_AUTH_BLOCK: '1m' },
    { SMTP_TIMEOUT: '5s', SMTP_DATA_TIMEOUT: '5s', SMTP_TRANSACTION_TIMEOUT: '10s' },
    { SMTP_TIMEOUT: '1s', SMTP_DATA_TIMEOUT: '2s', SMTP_TRANSACTION_TIMEOUT: '3s', RETRY_SCHEDULE: '1h' },
    { SMTP_TIMEOUT: '1s', SMTP_DATA_TIMEOUT: '3s', SMTP_TRANSACTION_TIMEOUT: '4s' },
    { RETRY_SCHEDULE: '200ms', SHUTDOWN_TIMEOUT: '1s' },
  ]
  for (const env of accepted) {
    it(`loads ${JSON.stringify(env)}`, () => {
      assert.deepEqual(problemsOf({ ...DEV, ...env }), [])
    })
  }

  it('derives the renewal interval from the lease when it is unset: a third of it', () => {
    assert.equal(loadConfig({ ...DEV }).leaseRenewIntervalMs, 20_000)
    assert.equal(loadConfig({ ...DEV, DELIVERY_LEASE: '2s' }).leaseRenewIntervalMs, 667)
    assert.equal(loadConfig({ ...DEV, DELIVERY_LEASE: '2s', LEASE_RENEW_INTERVAL: '300ms' }).leaseRenewIntervalMs, 300)
  })
})

describe('HIKYAKU_SECRET in production', () => {
  const weak = [
    'qwerty',
    'change-me',
    'a'.repeat(64),
    '0123'.repeat(16), // 64 hex digits, 4 different
    'password'.repeat(8),
    randomBytes(20).toString('hex'), // 160 bits of hex: 40 digits, not 64
    'correct horse battery staple', // 28 characters
  ]
  for (const secret of weak) {
    it(`refuses a weak secret (${secret.length} characters) without echoing it`, () => {
      const problems = problemsOf({ ...PROD, HIKYAKU_SECRET: secret })
      const problem = problems.find((p) => p.startsWith('HIKYAKU_SECRET'))
      assert.ok(problem, JSON.stringify(problems))
      assert.match(problem, /too weak/)
      assert.match(problem, /openssl rand -base64 32/)
      assert.ok(!problems.join('\n').includes(secret), 'the secret itself is never printed')
    })
  }

  const strong = [
    randomBytes(32).toString('base64'), // `openssl rand -base64 32`
    randomBytes(32).toString('base64url'),
    randomBytes(32).toString('hex'), // `openssl rand -hex 32`
    'Tr0ub4dor&3 correct horse battery staple!',
  ]
  for (const secret of strong) {
    it(`accepts ${secret.slice(0, 6)}… (${secret.length} characters)`, () => {
      assert.deepEqual(problemsOf({ ...PROD, HIKYAKU_SECRET: secret }), [])
    })
  }

  it('accepts the secret development generates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hk-config-'))
    try {
      for (let i = 0; i < 20; i++) {
        rmSync(join(dir, 'secret'), { force: true })
        const { secret } = loadConfig({ HIKYAKU_ENV: 'development', HIKYAKU_VAR_DIR: dir })
        assert.deepEqual(problemsOf({ ...PROD, HIKYAKU_SECRET: secret }), [])
      }
    } finally {
      rmSync(dir, { recursive: true })
    }
  })

  it('is not checked in development, where tests use short ones', () => {
    assert.deepEqual(problemsOf({ HIKYAKU_ENV: 'development', HIKYAKU_SECRET: 's' }), [])
  })
})
