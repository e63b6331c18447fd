import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { CONFIG_KEYS, type HikyakuEnv, isStrongSecret, type KeySpec, SECRET_RULE } from './config.keys.js'
import { formatDuration } from './lib/duration.js'
import { parseStreams, type StreamSpec } from './modules/streams/streams.js'

export { CONFIG_KEYS, type HikyakuEnv }

/**
 * The only reader of `process.env`. Every key has a default (some depend on HIKYAKU_ENV) or is
 * required (the table is in config.keys.ts); all problems are reported together in one error.
 */
export interface Config {
  env: HikyakuEnv
  varDir: string
  databaseUrl: string
  dbPoolSize: number
  dbStatementTimeoutMs: number
  redisUrl: string
  bullmqPrefix: string
  host: string
  port: number
  /** Where recipients reach the API (unsubscribe links), without a trailing slash. */
  publicUrl: string
  logLevel: string
  deliveryMode: 'relay' | 'mx'
  smtpRelayUrl: string
  workerConcurrency: number
  smtpPoolSize: number
  /** Every stream with its lane; transactional and broadcast always. */
  streams: StreamSpec[]
  /** The complaint-rate guard of broadcast streams. */
  complaintGuard: { rate: number; windowMs: number; minDelivered: number }
  smtpTimeoutMs: number
  smtpDataTimeoutMs: number
  smtpTransactionTimeoutMs: number
  workerMemoryBudget: number
  heloName: string
  retryScheduleMs: number[]
  maxDeliveryAgeMs: number
  deliveryLeaseMs: number
  leaseRenewIntervalMs: number
  sweepIntervalMs: number
  maxMessageBytes: number
  maxRecipients: number
  rateLimitMax: number
  rateLimitWindowMs: number
  httpBodyBudget: number
  admissionMaxBacklog: number
  secret: string
  devInboxPort: number
  devInboxDir: string
  shutdownTimeoutMs: number
  smtpHost: string
  inboundHost: string
  inboundPort: number
  inboundMaxBytes: number
  smtpPort: number
  smtpsPort: number
  smtpTlsCert: string | undefined
  smtpTlsKey: string | undefined
  smtpMaxConnections: number
  smtpIdleTimeoutMs: number
  smtpAuthMaxFailures: number
  smtpAuthBlockMs: number
  dnsServers: string[] | undefined
  dnsTimeoutMs: number
  mxPort: number
  mxAllowPrivate: boolean
  webhookTimeoutMs: number
  logRetentionMs: number
  webhookConcurrency: number
  webhookAllowPrivate: boolean
  webhookRetryScheduleMs: number[]
  webhookDisableAfterMs: number
  mxSourceAddress: string | undefined
  requireVerifiedDomain: boolean
  dkimSelector: string
  dkimEd25519: boolean
  spfInclude: string | undefined
  spfIps: string[]
  bounceSubdomain: string
  bounceMxHost: string | undefined
  shapingFile: string | undefined
  /** SHAPING_CONFIG's content, parsed as JSON (checked by the delivery module). */
  shaping: unknown
  metricsHost: string
  /** Unset: the process kind's own default port (see METRICS_PORT). */
  metricsPort: number | undefined
  metricsToken: string | undefined
  operatorToken: string | undefined
  retentionBodiesMs: number
  retentionMetadataMs: number
  dashboardSessionTtlMs: number
  dashboardIdleTimeoutMs: number
}

type Env = Record<string, string | undefined>

type ConfigKey = keyof typeof CONFIG_KEYS

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Reads and validates the environment. In development it creates `var/` and a local secret. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = []
  const hikyakuEnv = (env.HIKYAKU_ENV ?? 'production') as HikyakuEnv
  if (hikyakuEnv !== 'development' && hikyakuEnv !== 'production') {
    problems.push(`HIKYAKU_ENV must be development or production (got "${env.HIKYAKU_ENV}")`)
  }

  const read = <K extends ConfigKey>(key: K, required = false): unknown => {
    const spec = CONFIG_KEYS[key] as KeySpec<unknown>
    const raw = env[key]
    if (raw !== undefined && raw !== '') {
      const value = spec.parse(raw)
      const shown = spec.secret ? `${[...raw].length} characters` : `"${withoutPassword(raw)}"`
      if (value === undefined) problems.push(`${key} must be ${spec.expect} (got ${shown})`)
      return value
    }
    const fallback = typeof spec.default === 'function' ? spec.default(hikyakuEnv) : spec.default
    if (fallback === undefined && required) problems.push(`${key} is required: ${spec.description} (${spec.expect})`)
    return fallback
  }

  const varDir = resolve(read('HIKYAKU_VAR_DIR') as string)
  const devInboxPort = read('DEV_INBOX_PORT') as number
  const deliveryLeaseMs = read('DELIVERY_LEASE') as number | undefined
  const port = read('PORT') as number
  const publicUrl = (read('PUBLIC_URL') as string | undefined) ?? `http://localhost:${port}`
  const workerConcurrency = read('WORKER_CONCURRENCY') as number
  const smtpPoolSize = read('SMTP_POOL_SIZE') as number
  const streams = parseStreams(read('STREAMS') as string, { concurrency: workerConcurrency ?? 1, pool: smtpPoolSize ?? 1 })
  problems.push(...streams.problems.map((p) => `STREAMS: ${p}`))
  const config = {
    env: hikyakuEnv,
    varDir,
    databaseUrl: read('DATABASE_URL', true) as string,
    dbPoolSize: read('DB_POOL_SIZE') as number,
    dbStatementTimeoutMs: read('DB_STATEMENT_TIMEOUT') as number,
    redisUrl: read('REDIS_URL') as string,
    bullmqPrefix: read('BULLMQ_PREFIX') as string,
    host: read('HOST') as string,
    port,
    publicUrl: publicUrl.replace(/\/+$/, ''),
    logLevel: read('LOG_LEVEL') as string,
    deliveryMode: read('DELIVERY_MODE') as 'relay' | 'mx',
    smtpRelayUrl:
      (read('SMTP_RELAY_URL', hikyakuEnv === 'production' && env.DELIVERY_MODE !== 'mx') as string | undefined) ??
      `smtp://127.0.0.1:${devInboxPort}`,
    workerConcurrency,
    smtpPoolSize,
    streams: streams.streams,
    complaintGuard: {
      rate: read('COMPLAINT_PAUSE_RATE') as number,
      windowMs: read('COMPLAINT_WINDOW') as number,
      minDelivered: read('COMPLAINT_MIN_DELIVERED') as number,
    },
    smtpTimeoutMs: read('SMTP_TIMEOUT') as number,
    smtpDataTimeoutMs: read('SMTP_DATA_TIMEOUT') as number,
    smtpTransactionTimeoutMs: read('SMTP_TRANSACTION_TIMEOUT') as number,
    workerMemoryBudget: read('WORKER_MEMORY_BUDGET') as number,
    heloName: read('HELO_NAME') as string,
    retryScheduleMs: read('RETRY_SCHEDULE') as number[],
    maxDeliveryAgeMs: read('MAX_DELIVERY_AGE') as number,
    deliveryLeaseMs: deliveryLeaseMs as number,
    leaseRenewIntervalMs: (read('LEASE_RENEW_INTERVAL') ?? (deliveryLeaseMs && Math.round(deliveryLeaseMs / 3))) as number,
    sweepIntervalMs: read('SWEEP_INTERVAL') as number,
    maxMessageBytes: read('MAX_MESSAGE_BYTES') as number,
    maxRecipients: read('MAX_RECIPIENTS') as number,
    rateLimitMax: read('RATE_LIMIT_MAX') as number,
    rateLimitWindowMs: read('RATE_LIMIT_WINDOW') as number,
    httpBodyBudget: read('HTTP_BODY_BUDGET') as number,
    admissionMaxBacklog: read('ADMISSION_MAX_BACKLOG') as number,
    secret: (read('HIKYAKU_SECRET', hikyakuEnv === 'production') as string | undefined) ?? '',
    devInboxPort,
    devInboxDir: resolve((read('DEV_INBOX_DIR') as string | undefined) ?? join(varDir, 'inbox')),
    shutdownTimeoutMs: read('SHUTDOWN_TIMEOUT') as number,
    smtpHost: read('SMTP_HOST') as string,
    inboundHost: read('INBOUND_HOST') as string,
    inboundPort: read('INBOUND_PORT') as number,
    inboundMaxBytes: read('INBOUND_MAX_BYTES') as number,
    smtpPort: read('SMTP_PORT') as number,
    smtpsPort: read('SMTPS_PORT') as number,
    smtpTlsCert: read('SMTP_TLS_CERT') as string | undefined,
    smtpTlsKey: read('SMTP_TLS_KEY') as string | undefined,
    smtpMaxConnections: read('SMTP_MAX_CONNECTIONS') as number,
    smtpIdleTimeoutMs: read('SMTP_IDLE_TIMEOUT') as number,
    smtpAuthMaxFailures: read('SMTP_AUTH_MAX_FAILURES') as number,
    smtpAuthBlockMs: read('SMTP_AUTH_BLOCK') as number,
    dnsServers: read('DNS_SERVERS') as string[] | undefined,
    dnsTimeoutMs: read('DNS_TIMEOUT') as number,
    mxPort: read('MX_PORT') as number,
    mxAllowPrivate: read('MX_ALLOW_PRIVATE') as boolean,
    webhookTimeoutMs: read('WEBHOOK_TIMEOUT') as number,
    logRetentionMs: read('LOG_RETENTION') as number,
    webhookConcurrency: read('WEBHOOK_CONCURRENCY') as number,
    webhookAllowPrivate: read('WEBHOOK_ALLOW_PRIVATE') as boolean,
    webhookRetryScheduleMs: read('WEBHOOK_RETRY_SCHEDULE') as number[],
    webhookDisableAfterMs: read('WEBHOOK_DISABLE_AFTER') as number,
    mxSourceAddress: read('MX_SOURCE_ADDRESS') as string | undefined,
    requireVerifiedDomain: read('REQUIRE_VERIFIED_DOMAIN') as boolean,
    dkimSelector: read('DKIM_SELECTOR') as string,
    dkimEd25519: read('DKIM_ED25519') as boolean,
    spfInclude: read('SPF_INCLUDE') as string | undefined,
    spfIps: read('SPF_IPS') as string[],
    bounceSubdomain: read('BOUNCE_SUBDOMAIN') as string,
    bounceMxHost: read('BOUNCE_MX_HOST') as string | undefined,
    shapingFile: read('SHAPING_CONFIG') as string | undefined,
    shaping: undefined as unknown,
    metricsHost: read('METRICS_HOST') as string,
    metricsPort: read('METRICS_PORT') as number | undefined,
    metricsToken: read('METRICS_TOKEN') as string | undefined,
    operatorToken: read('OPERATOR_TOKEN') as string | undefined,
    retentionBodiesMs: read('RETENTION_BODIES') as number,
    retentionMetadataMs: read('RETENTION_METADATA') as number,
    dashboardSessionTtlMs: read('DASHBOARD_SESSION_TTL') as number,
    dashboardIdleTimeoutMs: read('DASHBOARD_IDLE_TIMEOUT') as number,
  } satisfies Config

  problems.push(...crossCheck(config, env))
  if ((config.smtpTlsCert === undefined) !== (config.smtpTlsKey === undefined)) {
    problems.push('SMTP_TLS_CERT and SMTP_TLS_KEY go together: set both or neither')
  }
  if (config.shapingFile) {
    try {
      config.shaping = JSON.parse(readFileSync(config.shapingFile, 'utf8'))
    } catch (err) {
      problems.push(`SHAPING_CONFIG: cannot read ${config.shapingFile} as JSON (${(err as Error).message})`)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  if (config.env === 'development' && config.secret === '') config.secret = devSecret(varDir)
  return Object.freeze(config)
}

/**
 * Rules between keys, and the production secret's strength. Each problem says what to change. A
 * value that failed its own check is undefined here and skips the rules it is part of.
 */
function crossCheck(config: Config, env: Env): string[] {
  const problems: string[] = []
  const shown = (key: string, ms: number) => `${key} (${formatDuration(ms)}${env[key] ? '' : ', the default'})`
  const { deliveryLeaseMs: lease, leaseRenewIntervalMs: renew } = config
  if (lease !== undefined && renew !== undefined && renew * 2 > lease) {
    problems.push(
      `${shown('LEASE_RENEW_INTERVAL', renew)} must be at most half of ${shown('DELIVERY_LEASE', lease)}, so that a renewal that fails ` +
        'can be tried again before the lease lapses and another worker sends the same message: lower LEASE_RENEW_INTERVAL ' +
        '(unset, it is a third of the lease) or raise DELIVERY_LEASE',
    )
  }
  const { smtpTimeoutMs: step, smtpDataTimeoutMs: data, smtpTransactionTimeoutMs: cap } = config
  if (cap !== undefined && data !== undefined && step !== undefined && cap < data + step) {
    problems.push(
      `${shown('SMTP_TRANSACTION_TIMEOUT', cap)} must be at least ${shown('SMTP_DATA_TIMEOUT', data)} plus ${shown('SMTP_TIMEOUT', step)}, ` +
        'so that a transaction has time for its commands and its message before the wait for the final reply: raise ' +
        'SMTP_TRANSACTION_TIMEOUT or lower the others',
    )
  }
  if (
    config.retentionBodiesMs !== undefined &&
    config.retentionMetadataMs !== undefined &&
    config.retentionBodiesMs > config.retentionMetadataMs
  ) {
    problems.push(
      `${shown('RETENTION_BODIES', config.retentionBodiesMs)} must be at most ${shown('RETENTION_METADATA', config.retentionMetadataMs)}: a body goes with its email`,
    )
  }
  const loopback = ['127.0.0.1', '::1', 'localhost'].includes(config.metricsHost) || config.metricsHost?.startsWith('127.')
  if (config.metricsHost !== undefined && !loopback && !config.metricsToken) {
    problems.push(
      `METRICS_HOST is ${config.metricsHost}, off loopback, without METRICS_TOKEN: anyone who reaches it would read the metrics; set METRICS_TOKEN or keep it on 127.0.0.1`,
    )
  }
  for (const key of ['METRICS_TOKEN', 'OPERATOR_TOKEN'] as const) {
    const token = key === 'METRICS_TOKEN' ? config.metricsToken : config.operatorToken
    if (token !== undefined && !isStrongSecret(token)) {
      problems.push(`${key} is too weak (${[...token].length} characters, ${new Set(token).size} different): use ${SECRET_RULE}`)
    }
  }
  if (config.env === 'production' && config.secret !== '' && !isStrongSecret(config.secret)) {
    problems.push(
      `HIKYAKU_SECRET is too weak (${[...config.secret].length} characters, ${new Set(config.secret).size} different): use ${SECRET_RULE}`,
    )
  }
  return problems
}

/** A per-checkout secret kept under var/, so development needs no setup and restarts keep it. */
function devSecret(varDir: string): string {
  const file = join(varDir, 'secret')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(varDir, { recursive: true })
  const secret = randomBytes(32).toString('base64url')
  writeFileSync(file, `${secret}\n`, { mode: 0o600 })
  return secret
}

/** A value as it may appear in an error: the password of a URL is masked. */
const withoutPassword = (raw: string): string => raw.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@')

/** Every key with its description, for `hikyaku help` (docs/configuration.md is generated from the table itself). */
export const describeConfig = (): Array<{ key: string; description: string; expect: string }> =>
  Object.entries(CONFIG_KEYS).map(([key, spec]) => ({ key, description: spec.description, expect: spec.expect }))
