/** Ids, times and keys shared by the examples, so that one example's email is another's event. */

/** When the example email was accepted. */
export const T0 = '2026-12-01T09:30:00.000Z'

/** A time `ms` milliseconds after T0. */
export const at = (ms: number): string => new Date(Date.parse(T0) + ms).toISOString()

/** A UUIDv7 made at `time`: its first 48 bits are that time, as the server's ids are. */
export function uuidAt(time: string, n: number): string {
  const ms = Date.parse(time).toString(16).padStart(12, '0')
  const tail = ((n * 0x9e3779b1) >>> 0).toString(16).padStart(8, '0')
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${tail.slice(0, 3)}-8${tail.slice(3, 6)}-${tail}5c1d`
}

export const DAY = 86_400_000

export const ACCOUNT_ID = uuidAt(at(-120 * DAY), 1)
export const API_KEY_ID = uuidAt(at(-90 * DAY), 2)
export const EMAIL_ID = uuidAt(T0, 3)
export const SECOND_EMAIL_ID = uuidAt(at(45_000), 4)
export const DOMAIN_ID = uuidAt(at(-30 * DAY), 5)
export const WEBHOOK_ID = uuidAt(at(-20 * DAY), 6)
export const CAMPAIGN_ID = uuidAt(at(-2 * DAY), 7)
export const TEMPLATE_ID = uuidAt(at(-10 * DAY), 8)
export const REQUEST_ID = uuidAt(at(600_000), 9)

/** Event ids: made with the event. */
export const eventId = (ms: number, n: number): string => uuidAt(at(ms), 100 + n)

/** An API key as the server hands it out (`hk_<12>_<40>`), and its hint. */
export const API_KEY = 'hk_Q3vN8xK2pL7m_c9Rw4TzB6yHf2JqM8sVnX5kLd3GpA7eUt1WbZo0Y'
export const API_KEY_HINT = 'hk_Q3vN8xK2pL7m_…'

export const FROM = 'Acme <hello@acme.example>'
export const SENDING_DOMAIN = 'acme.example'

/** A cursor as the list routes hand it out (opaque: the last item's id, wrapped). */
export const cursorAfter = (id: string): string => Buffer.from(`v1:${id}`).toString('base64url')
