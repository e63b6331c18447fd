import { duration, int, type KeySpec, str } from './config.parse.js'

/** Configuration of what operators watch and run: metrics, the operator API, dashboard sessions. */
export const OPERATIONS_KEYS = {
  METRICS_HOST: {
    description: 'Address of the Prometheus /metrics and /healthz listener of each process; off loopback it needs METRICS_TOKEN',
    parse: str,
    expect: 'an address',
    default: '127.0.0.1',
  },
  METRICS_PORT: {
    description:
      'Port of that listener (0: any free port); unset: 9464 for api and all, 9465 worker, 9466 smtp, 9467 inbound, 9468 webhooks',
    parse: int(0, 65535),
    expect: 'a port',
  },
  METRICS_TOKEN: {
    description: 'Bearer token /metrics asks for (unset: none, which only a loopback METRICS_HOST allows)',
    parse: str,
    expect: 'a random string of 32 or more characters',
    secret: true,
  },
  RETENTION_BODIES: {
    description:
      "How long an email's text, HTML, raw bytes and attachments are kept once every recipient has ended (an account may have its own)",
    ...duration('1h', '30d', '3650d'),
    default: 30 * 86_400_000,
  },
  RETENTION_METADATA: {
    description: 'How long ended emails, their recipients, attempts and events are kept (an account may have its own); statistics stay',
    ...duration('1h', '90d', '3650d'),
    default: 90 * 86_400_000,
  },
  OPERATOR_TOKEN: {
    description: 'Bearer token of the operator API (/v1/operator: accounts, suspension, quotas); unset: that API is off',
    parse: str,
    expect: 'a random string of 32 or more characters',
    secret: true,
  },
  DASHBOARD_SESSION_TTL: {
    description: 'How long a dashboard sign-in lasts at most',
    ...duration('1m', '12h', '30d'),
    default: 12 * 3_600_000,
  },
  DASHBOARD_IDLE_TIMEOUT: {
    description: 'A dashboard sign-in not used for this long ends',
    ...duration('1m', '1h', '30d'),
    default: 3_600_000,
  },
} satisfies Record<string, KeySpec<unknown>>
