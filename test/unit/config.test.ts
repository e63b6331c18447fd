import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
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

describe('README', () => {
  it('documents every configuration variable', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    const missing = Object.keys(CONFIG_KEYS).filter((key) => !readme.includes(`\`${key}\``))
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
