import { createHmac, randomBytes } from 'node:crypto'

/**
 * Signing of outgoing webhooks as the Standard Webhooks specification defines it
 * (https://www.standardwebhooks.com), so receivers can verify them with any of its libraries:
 *
 * - `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature` headers;
 * - the signature is `v1,` + base64 HMAC-SHA256 over `${id}.${timestamp}.${body}`;
 * - a secret is `whsec_` + base64 of the key bytes, and the HMAC key is those decoded bytes.
 *
 * Pure: no I/O, no clock (the caller passes the timestamp, so a retry can be signed afresh).
 */
export const WEBHOOK_SECRET_PREFIX = 'whsec_'
export const WEBHOOK_USER_AGENT = 'Hikyaku-Webhooks/1'

/** The specification recommends keys of 24 to 64 bytes; we generate 32. */
const MIN_KEY_BYTES = 24
const MAX_KEY_BYTES = 64
const NEW_KEY_BYTES = 32
// Canonical padded base64 only: Buffer.from(…, 'base64') silently skips characters it does not
// know, so a typo would otherwise become a different, shorter key instead of an error.
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
// The id goes into a header and into the signed content: printable, no spaces, and no '.', so
// that `${id}.${timestamp}.${body}` splits only one way.
const ID_RE = /^[A-Za-z0-9_-]{1,128}$/

export interface WebhookHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
  'content-type': 'application/json'
  'user-agent': string
  [name: string]: string
}

/** A fresh secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(NEW_KEY_BYTES).toString('base64')
}

/** True when `secret` is a well-formed `whsec_` secret that `webhookSecretKey` accepts. */
export function isWebhookSecret(secret: string): boolean {
  return decodeSecret(secret) !== undefined
}

/**
 * The HMAC key of a `whsec_` secret. Throws for a malformed one; the message never contains the
 * secret itself, since it may end up in logs.
 */
export function webhookSecretKey(secret: string): Buffer {
  const key = decodeSecret(secret)
  if (!key) {
    throw new Error(
      `malformed webhook secret: expected "${WEBHOOK_SECRET_PREFIX}" followed by base64 of ${MIN_KEY_BYTES}-${MAX_KEY_BYTES} bytes`,
    )
  }
  return key
}

/**
 * The `webhook-signature` value: one `v1,<sig>` per secret, space-separated, in the order given.
 * During a rotation the caller passes the current secret first and the previous one after it,
 * so receivers that still hold only the previous secret keep verifying until the overlap ends.
 */
export function signatureHeader(secrets: readonly string[], id: string, timestampSeconds: number, body: string): string {
  if (secrets.length === 0) throw new Error('at least one webhook secret is required to sign')
  checkId(id)
  checkTimestamp(timestampSeconds)
  const keys = secrets.map(webhookSecretKey) // all validated before any signing
  const content = `${id}.${timestampSeconds}.${body}`
  return keys.map((key) => `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`).join(' ')
}

/**
 * Every header a webhook request carries besides what the HTTP client adds (host, length).
 * `body` must be sent exactly as signed, as UTF-8.
 */
export function webhookHeaders(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: string,
  userAgent: string = WEBHOOK_USER_AGENT,
): WebhookHeaders {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signatureHeader(secrets, id, timestampSeconds, body),
    'content-type': 'application/json',
    'user-agent': userAgent,
  }
}

function decodeSecret(secret: string): Buffer | undefined {
  if (typeof secret !== 'string' || !secret.startsWith(WEBHOOK_SECRET_PREFIX)) return undefined
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length)
  if (!BASE64_RE.test(encoded)) return undefined
  const key = Buffer.from(encoded, 'base64')
  return key.length >= MIN_KEY_BYTES && key.length <= MAX_KEY_BYTES ? key : undefined
}

function checkId(id: string): void {
  if (typeof id !== 'string' || !ID_RE.test(id)) throw new Error('malformed webhook id: expected 1-128 characters of A-Z a-z 0-9 _ -')
}

function checkTimestamp(seconds: number): void {
  // Seconds, not milliseconds: a value past year 5138 is almost certainly Date.now() by mistake.
  if (!Number.isSafeInteger(seconds) || seconds < 0 || seconds >= 1e11) {
    throw new Error('malformed webhook timestamp: expected whole unix seconds')
  }
}
