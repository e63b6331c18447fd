import { hostname } from 'node:os'
import { OPERATIONS_KEYS } from './config.keys.ops.js'
import { bool, dev, duration, durationList, type HikyakuEnv, int, type KeySpec, list, oneOf, str, url } from './config.parse.js'
import { parseDurationList } from './lib/duration.js'

export type { HikyakuEnv, KeySpec }

/**
 * Every configuration variable: how to parse it, what a valid value looks like, its default
 * (possibly per HIKYAKU_ENV) and what it is for. Read by config.ts, the only reader of the
 * environment, and listed by `hikyaku config`.
 */
/**
 * What a production HIKYAKU_SECRET must look like: about 32 random bytes. Hex carries 4 bits a
 * character, so it needs 64 digits; anything else needs 32 characters. A floor on different
 * characters refuses the obvious low-entropy strings (`aaaa…`, `password1password1…`) and never a
 * random one: `openssl rand -hex 32` shows ~16 different digits, `openssl rand -base64 32` ~30
 * different characters, and so does the secret development generates (32 random bytes, base64url).
 */
export function isStrongSecret(secret: string): boolean {
  const chars = [...secret]
  const different = new Set(chars).size
  if (/^[0-9a-f]+$/i.test(secret)) return chars.length >= 64 && different >= 10
  return chars.length >= 32 && different >= 16
}
export const SECRET_RULE =
  'at least 32 random bytes: 64 or more hex digits (10 or more different), or 32 or more characters with 16 or more different ones; generate one with `openssl rand -base64 32`'

export const CONFIG_KEYS = {
  HIKYAKU_VAR_DIR: { description: 'Runtime data directory (dev secret, keys, inbox)', parse: str, expect: 'a path', default: 'var' },
  DATABASE_URL: {
    description: 'PostgreSQL connection URL',
    parse: url('postgres:', 'postgresql:'),
    expect: 'postgresql://user:pass@host:5432/db',
    default: dev('postgresql://hikyaku:hikyaku@127.0.0.1:5432/hikyaku'),
  },
  DB_POOL_SIZE: { description: 'PostgreSQL connections per process', parse: int(1, 200), expect: 'an integer 1-200', default: 20 },
  DB_STATEMENT_TIMEOUT: {
    description: 'Longest a database statement may run; a hung database then answers 503/451 within about this plus 2 s',
    ...duration('100ms', '10s'),
    default: 10_000,
  },
  REDIS_URL: {
    description: 'Redis URL (may carry a db index)',
    parse: url('redis:', 'rediss:'),
    expect: 'redis://host:6379/0',
    default: 'redis://127.0.0.1:6379',
  },
  BULLMQ_PREFIX: { description: 'Key prefix separating deployments on one Redis', parse: str, expect: 'a string', default: 'hikyaku' },
  HOST: { description: 'HTTP listen address', parse: str, expect: 'an address', default: dev('127.0.0.1', '0.0.0.0') },
  PORT: { description: 'HTTP listen port', parse: int(0, 65535), expect: 'a port', default: 3000 },
  PUBLIC_URL: {
    description: 'The HTTPS address recipients reach the API at: unsubscribe links point there',
    parse: url('https:', 'http:'),
    expect: 'a URL like https://mail.example.com',
  },
  LOG_LEVEL: {
    description: 'pino log level',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    expect: 'info, debug, …',
    default: 'info',
  },
  DELIVERY_MODE: {
    description: "How mail leaves: through an upstream relay, or straight to each recipient domain's MX",
    parse: oneOf('relay', 'mx'),
    expect: 'relay or mx',
    default: 'relay',
  },
  SMTP_RELAY_URL: {
    description: 'Upstream relay: smtp://user:pass@host:587 (STARTTLS) or smtps://…:465; ?tls=none|opportunistic|require|verify',
    parse: url('smtp:', 'smtps:'),
    expect: 'smtp://user:pass@host:587',
  },
  WORKER_CONCURRENCY: {
    description: 'Deliveries in progress per worker process and stream (a stream may set its own in STREAMS)',
    parse: int(1, 1000),
    expect: 'an integer 1-1000',
    default: 50,
  },
  STREAMS: {
    description:
      'Streams and their lanes, entries separated by ";": a name, then kind=transactional|broadcast, concurrency and pool (relay connections) per worker process, rate=N/s|m|h for the lane, day=N and month=N recipients per account; transactional and broadcast always exist',
    parse: str,
    expect: 'like "broadcast concurrency=20 rate=100/s; newsletters kind=broadcast"',
    default: '',
  },
  COMPLAINT_PAUSE_RATE: {
    description: 'A broadcast stream of an account pauses itself when its complaints per delivery over COMPLAINT_WINDOW pass this',
    parse: (raw: string) => {
      const m = /^(\d+(?:\.\d+)?)%$/.exec(raw.trim())
      const n = m ? Number(m[1]) / 100 : Number.NaN
      return n > 0 && n < 1 ? n : undefined
    },
    expect: 'a percentage like 0.1%',
    default: 0.001,
  },
  COMPLAINT_WINDOW: { description: 'The sliding window of the complaint-rate guard', ...duration('1m', '24h'), default: 86_400_000 },
  COMPLAINT_MIN_DELIVERED: {
    description: 'Deliveries in the window below which the complaint-rate guard judges nothing',
    parse: int(1),
    expect: 'a whole number',
    default: 1000,
  },
  SMTP_POOL_SIZE: {
    description: 'SMTP connections to the relay per worker process and stream (a stream may set its own in STREAMS)',
    parse: int(1, 200),
    expect: 'an integer 1-200',
    default: 10,
  },
  SMTP_TIMEOUT: {
    description: 'Timeout for each outbound SMTP step (connect, greeting, each command) except the reply to the final dot',
    ...duration('100ms', '60s'),
    default: 60_000,
  },
  SMTP_DATA_TIMEOUT: {
    description: 'How long to wait for the reply after the final dot of a message (RFC 5321 suggests 10 minutes)',
    ...duration('100ms', '10m'),
    default: 10 * 60_000,
  },
  SMTP_TRANSACTION_TIMEOUT: {
    description:
      'Hard wall-clock cap on one outbound SMTP transaction, connect to final reply; a slower one is cut off and deferred (at least SMTP_DATA_TIMEOUT, longer than SMTP_TIMEOUT)',
    ...duration('100ms', '12m'),
    default: 12 * 60_000,
  },
  WORKER_MEMORY_BUDGET: {
    description: 'Bytes of messages one worker process holds in flight at once (a larger message still goes, alone)',
    parse: int(1024 * 1024),
    expect: 'bytes, at least 1048576',
    default: 256 * 1024 * 1024,
  },
  HELO_NAME: { description: 'Name announced in EHLO', parse: str, expect: 'a host name', default: hostname() },
  RETRY_SCHEDULE: {
    description: 'Delays between attempts; the last repeats',
    ...durationList('100ms', '1m,5m,1h'),
    default: parseDurationList('1m,5m,15m,30m,1h,2h,4h,8h'),
  },
  MAX_DELIVERY_AGE: {
    description: 'Give up (expired) this long after acceptance or scheduled time',
    ...duration('1s', '72h', '365d'),
    default: 72 * 3_600_000,
  },
  DELIVERY_LEASE: {
    description: 'How long a claimed recipient stays ours without a renewal before another worker may take it over',
    ...duration('1s', '60s'),
    default: 60_000,
  },
  LEASE_RENEW_INTERVAL: {
    description:
      'How often a worker renews the leases of the recipients it is sending to; shorter than DELIVERY_LEASE (unset: a third of it)',
    ...duration('100ms', '20s'),
  },
  SWEEP_INTERVAL: {
    description: "How often the sweeper rebuilds missing jobs, takes over dead workers' claims and expires old mail",
    ...duration('100ms', '20s'),
    // A dead worker's claims are taken over within a lease plus a sweep: 60 s + 20 s (±10%) < 90 s.
    default: 20_000,
  },
  MAX_MESSAGE_BYTES: {
    description: 'Largest encoded message accepted',
    parse: int(1024),
    expect: 'bytes, at least 1024',
    default: 26_214_400,
  },
  MAX_RECIPIENTS: { description: 'Recipients per message (to + cc + bcc)', parse: int(1, 1000), expect: 'an integer 1-1000', default: 50 },
  RATE_LIMIT_MAX: { description: 'Requests per API key per window', parse: int(1), expect: 'a positive integer', default: 6000 },
  RATE_LIMIT_WINDOW: { description: 'Rate-limit window', ...duration('1s', '1m'), default: 60_000 },
  HTTP_BODY_BUDGET: {
    description: 'Bytes of request bodies one API process reads at once; past it sends get 503 (a larger body still goes, alone)',
    parse: int(1024 * 1024),
    expect: 'bytes, at least 1048576',
    default: 256 * 1024 * 1024,
  },
  ADMISSION_MAX_BACKLOG: {
    description: 'Waiting deliveries past which sends get 503',
    parse: int(1),
    expect: 'a positive integer',
    default: 100_000,
  },
  HIKYAKU_SECRET: {
    description: 'Secret for encrypting keys and signing tokens; required in production, generated in development',
    parse: str,
    expect: SECRET_RULE,
    secret: true,
  },
  DEV_INBOX_PORT: { description: 'Port of `hikyaku dev-inbox`', parse: int(0, 65535), expect: 'a port', default: 2525 },
  DEV_INBOX_DIR: { description: 'Where `hikyaku dev-inbox` writes .eml files', parse: str, expect: 'a path' },
  SHUTDOWN_TIMEOUT: {
    description: 'Longest graceful shutdown before forcing exit',
    ...duration('100ms', '30s'),
    default: 30_000,
  },
  SMTP_HOST: { description: 'SMTP submission listen address', parse: str, expect: 'an address', default: dev('127.0.0.1', '0.0.0.0') },
  SMTP_PORT: { description: 'SMTP submission port with STARTTLS', parse: int(0, 65535), expect: 'a port', default: dev(2587, 587) },
  SMTPS_PORT: { description: 'SMTP submission port with implicit TLS', parse: int(0, 65535), expect: 'a port', default: dev(2465, 465) },
  INBOUND_HOST: {
    description: "Listen address of the inbound listener for bounces and complaints (the return-path domains' MX)",
    parse: str,
    expect: 'an address',
    default: dev('127.0.0.1', '0.0.0.0'),
  },
  INBOUND_PORT: {
    description: 'Port of the inbound listener (25 for the MX)',
    parse: int(0, 65535),
    expect: 'a port',
    default: dev(2526, 25), // 2525 is the dev inbox
  },
  INBOUND_MAX_BYTES: {
    description: 'Largest report the inbound listener takes (a DSN may carry the whole original message, up to MAX_MESSAGE_BYTES and more)',
    parse: int(1024, 100 * 1024 * 1024),
    expect: 'bytes, 1024 to 104857600',
    default: 32 * 1024 * 1024,
  },
  SMTP_TLS_CERT: {
    description: 'PEM certificate (chain) file for SMTP; generated under var/tls in development',
    parse: str,
    expect: 'a file path',
  },
  SMTP_TLS_KEY: { description: 'PEM private key file for SMTP_TLS_CERT', parse: str, expect: 'a file path' },
  SMTP_MAX_CONNECTIONS: {
    description: 'Open SMTP connections per listener',
    parse: int(1, 100_000),
    expect: 'a positive integer',
    default: 500,
  },
  SMTP_IDLE_TIMEOUT: {
    description: 'An SMTP client silent this long is disconnected',
    ...duration('1s', '60s'),
    default: 60_000,
  },
  SMTP_AUTH_MAX_FAILURES: {
    description: 'Failed SMTP logins from one address before it is refused for SMTP_AUTH_BLOCK',
    parse: int(1),
    expect: 'a positive integer',
    default: 10,
  },
  SMTP_AUTH_BLOCK: {
    description: 'How long an address that failed too many logins is refused',
    ...duration('1s', '15m'),
    default: 15 * 60_000,
  },
  DNS_SERVERS: {
    description: 'Resolvers for MX and domain checks (ip or ip:port, comma-separated); the system resolver when unset',
    parse: list,
    expect: 'addresses like 127.0.0.1:53',
  },
  DNS_TIMEOUT: { description: 'Timeout of one DNS query', ...duration('100ms', '5s'), default: 5_000 },
  MX_PORT: { description: 'Port of recipient MX servers (tests use a high port)', parse: int(1, 65535), expect: 'a port', default: 25 },
  MX_ALLOW_PRIVATE: {
    description: 'Allow MX hosts on loopback, private or link-local addresses',
    parse: bool,
    expect: 'true or false',
    default: false,
  },
  MX_SOURCE_ADDRESS: { description: 'Local address to send MX traffic from', parse: str, expect: 'an IP address' },
  LOG_RETENTION: {
    description: 'How long inbound reports (DSNs, complaints) and webhook request logs are kept',
    ...duration('1h', '30d', '3650d'),
    default: 30 * 24 * 3_600_000,
  },
  WEBHOOK_TIMEOUT: {
    description: 'How long one webhook request may take, connecting and reading the answer included',
    ...duration('100ms', '10s', '60s'),
    default: 10_000,
  },
  WEBHOOK_CONCURRENCY: {
    description: 'Webhook requests in flight per webhooks process',
    parse: int(1, 1000),
    expect: 'an integer 1-1000',
    default: 100,
  },
  WEBHOOK_ALLOW_PRIVATE: {
    description: 'Allow webhook URLs on loopback, private or link-local addresses (refused by default: SSRF)',
    parse: bool,
    expect: 'true or false',
    default: false,
  },
  WEBHOOK_RETRY_SCHEDULE: {
    description: 'Waits before each retry of a failed webhook (±20 %); after the last one it is given up',
    ...durationList('100ms', '5s,30s,2m'),
    default: parseDurationList('5s,30s,2m,10m,30m,1h,2h,4h,8h,8h,8h,8h'),
  },
  WEBHOOK_DISABLE_AFTER: {
    description: 'An endpoint whose every request failed for this long is disabled, with the reason shown',
    ...duration('1s', '5d', '365d'),
    default: 5 * 24 * 3_600_000,
  },
  REQUIRE_VERIFIED_DOMAIN: {
    description: 'Refuse mail whose From domain is not a verified sending domain',
    parse: bool,
    expect: 'true or false',
    default: dev(false, true),
  },
  DKIM_SELECTOR: { description: 'DKIM selector for new sending domains', parse: str, expect: 'a DNS label', default: 'hk1' },
  DKIM_ED25519: {
    description: 'Also sign with an Ed25519 key (RFC 8463), as a second signature',
    parse: bool,
    expect: 'true or false',
    default: false,
  },
  SPF_INCLUDE: {
    description: 'Domain to include in the SPF record suggested for sending domains',
    parse: str,
    expect: 'a domain like _spf.example.com',
  },
  SPF_IPS: {
    description: 'Addresses to list in the suggested SPF record',
    parse: list,
    expect: 'IPs like 192.0.2.10,2001:db8::10',
    default: [],
  },
  BOUNCE_SUBDOMAIN: {
    description: 'Subdomain of a sending domain that receives bounces (the return path)',
    parse: str,
    expect: 'a DNS label',
    default: 'bounces',
  },
  BOUNCE_MX_HOST: {
    description: 'Host that receives bounces for the return-path domains (their MX record)',
    parse: str,
    expect: 'a host name',
  },
  SHAPING_CONFIG: {
    description: 'JSON file with per-destination routing, TLS policy and traffic limits',
    parse: str,
    expect: 'a file path',
  },
  ...OPERATIONS_KEYS,
} satisfies Record<string, KeySpec<unknown>>
