import { example, json, type OperationExamples } from './define.js'
import { ACCOUNT_ID, API_KEY, API_KEY_HINT, API_KEY_ID, at, DAY, DOMAIN_ID, SENDING_DOMAIN, T0, uuidAt } from './values.js'

const apiKey = (overrides: Record<string, unknown> = {}) => ({
  id: API_KEY_ID,
  name: 'Checkout service',
  scope: 'send',
  hint: API_KEY_HINT,
  created_at: at(-90 * DAY),
  last_used_at: at(-60_000),
  revoked_at: null,
  ...overrides,
})

const FULL_KEY = apiKey({
  id: uuidAt(at(-120 * DAY), 21),
  name: 'Operations',
  scope: 'full',
  hint: 'hk_R7tB2mW9cJ4x_…',
  created_at: at(-120 * DAY),
  last_used_at: at(-3_600_000),
})

const FOOTER =
  'Acme Inc., 1-2-3 Marunouchi, Chiyoda-ku, Tokyo 100-0005, Japan. Questions: support@acme.example. To stop these emails, use the unsubscribe link below.'

const ACCOUNT = { id: ACCOUNT_ID, name: 'Acme', broadcast_footer: FOOTER, created_at: at(-120 * DAY) }

const SPF = 'v=spf1 include:spf.hikyaku.example ~all'
const record = (type: string, name: string, value: string, purpose: string, status: string) => ({ type, name, value, purpose, status })
const records = (status: string) => [
  record('TXT', SENDING_DOMAIN, SPF, 'spf', status),
  record(
    'TXT',
    `hk1._domainkey.${SENDING_DOMAIN}`,
    'v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu2kT9Qx7n1…IDAQAB',
    'dkim',
    status,
  ),
  record(
    'TXT',
    `hk1-ed25519._domainkey.${SENDING_DOMAIN}`,
    'v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=',
    'dkim-ed25519',
    status,
  ),
  record('TXT', `_dmarc.${SENDING_DOMAIN}`, 'v=DMARC1; p=none;', 'dmarc', status),
  record('MX', `bounces.${SENDING_DOMAIN}`, '10 mail.hikyaku.example', 'return-path', status),
  record('TXT', `bounces.${SENDING_DOMAIN}`, SPF, 'return-path', status),
]

const NEW_DOMAIN = {
  id: DOMAIN_ID,
  name: SENDING_DOMAIN,
  status: 'pending',
  dkim_selector: 'hk1',
  return_path_domain: `bounces.${SENDING_DOMAIN}`,
  records: records('pending'),
  verified_at: null,
  checked_at: null,
  created_at: at(-30 * DAY),
}

const VERIFIED_DOMAIN = {
  ...NEW_DOMAIN,
  status: 'verified',
  records: records('found'),
  verified_at: at(-30 * DAY + 1_800_000),
  checked_at: at(-30 * DAY + 1_800_000),
}

const HELO = 'mail.hikyaku.example'
const SENDING_HOST = {
  helo_name: HELO,
  helo_addresses: ['192.0.2.25'],
  addresses: [{ address: '192.0.2.25', ptr: ['vps-192-0-2-25.provider.example'], status: 'not_helo' }],
  status: 'warning',
  advice: [
    `The PTR name of 192.0.2.25 is vps-192-0-2-25.provider.example, not HELO_NAME ${HELO}: set HELO_NAME to it, or change the PTR record`,
  ],
}

const VERIFIED_NO_DMARC = {
  ...VERIFIED_DOMAIN,
  records: VERIFIED_DOMAIN.records.map((r) => (r.purpose === 'dmarc' ? { ...r, status: 'missing' } : r)),
  checked_at: T0,
  warnings: [
    `No DMARC record at _dmarc.${SENDING_DOMAIN}: Gmail, Yahoo and Microsoft require one of bulk senders (p=none is enough to start)`,
    ...SENDING_HOST.advice.map((a) => `Sending host: ${a}`),
  ],
  sending_host: SENDING_HOST,
}

const DESTINATIONS = {
  data: [
    {
      destination: 'google',
      paused_until: at(25 * 60_000),
      concurrency: 0.5,
      connections: 0,
      waiting: 1240,
      max_connections: 20,
      rate_per_second: 50,
      last_reply: {
        text: '421 4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address.',
        at: at(-5 * 60_000),
      },
      last_rule: { id: 'google.rate_reputation', class: 'reputation', at: at(-5 * 60_000) },
      held_senders: [],
      held_recipient_domains: 0,
    },
    {
      destination: 'microsoft',
      paused_until: null,
      concurrency: 1,
      connections: 3,
      waiting: 0,
      max_connections: 10,
      rate_per_second: 20,
      last_reply: null,
      last_rule: null,
      held_senders: [{ domain: SENDING_DOMAIN, until: at(40 * 60_000) }],
      held_recipient_domains: 1,
    },
  ],
}

export const ACCOUNT_EXAMPLES: Record<string, OperationExamples> = {
  'GET /v1/api-keys': {
    responses: { '200': json(example('keys', "The account's keys", { data: [apiKey(), FULL_KEY], next_cursor: null })) },
  },
  'POST /v1/api-keys': {
    request: json(example('send', 'A send-only key for one service', { scope: 'send', name: 'Checkout service' })),
    responses: {
      '201': json(
        example('created', 'The secret is shown this once', {
          key: API_KEY,
          api_key: apiKey({ created_at: T0, last_used_at: null }),
        }),
      ),
    },
  },
  'DELETE /v1/api-keys/{id}': {
    responses: { '200': json(example('revoked', 'The key, revoked', apiKey({ revoked_at: T0 }))) },
  },

  'GET /v1/account': { responses: { '200': json(example('account', 'The account', ACCOUNT)) } },
  'PATCH /v1/account': {
    request: json(example('footer', 'Set the broadcast footer', { broadcast_footer: FOOTER })),
    responses: { '200': json(example('account', 'The account with its new footer', ACCOUNT)) },
  },

  'POST /v1/domains': {
    request: json(example('domain', 'A domain to send from', { name: SENDING_DOMAIN })),
    responses: { '201': json(example('pending', 'The records to publish, before the first verification', NEW_DOMAIN)) },
  },
  'GET /v1/domains': {
    responses: { '200': json(example('domains', 'One verified domain', { data: [VERIFIED_DOMAIN], next_cursor: null })) },
  },
  'GET /v1/domains/{id}': { responses: { '200': json(example('verified', 'A verified domain', VERIFIED_DOMAIN)) } },
  'POST /v1/domains/{id}/verify': {
    responses: {
      '200': json(example('verified', 'SPF and DKIM found; no DMARC record, and advice on the sending host', VERIFIED_NO_DMARC)),
    },
  },
  'GET /v1/sending-host': {
    responses: { '200': json(example('not_helo', 'The PTR record names another host than HELO_NAME', SENDING_HOST)) },
  },
  'GET /v1/destinations': {
    responses: { '200': json(example('paused', 'Google paused after a reputation deferral; one domain held at Microsoft', DESTINATIONS)) },
  },
  'DELETE /v1/domains/{id}': { responses: { '200': json(example('deleted', 'Deleted', { id: DOMAIN_ID, deleted: true })) } },
}
