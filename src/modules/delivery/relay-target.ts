/**
 * Where relay mode sends: parsed from SMTP_RELAY_URL.
 * `smtp://` uses STARTTLS, `smtps://` TLS from the first byte; `?tls=` picks the policy:
 * `opportunistic` (STARTTLS when offered, certificate not checked; the default without
 * credentials), `require` (no STARTTLS → no delivery), `verify` (require plus a valid certificate;
 * the default with credentials, so a password never crosses an unverified link), `none`.
 */
export type TlsPolicy = 'none' | 'opportunistic' | 'require' | 'verify'

export interface SmtpTarget {
  host: string
  port: number
  /** TLS from connect (smtps). */
  secure: boolean
  tls: TlsPolicy
  auth?: { user: string; pass: string }
}

const POLICIES: readonly TlsPolicy[] = ['none', 'opportunistic', 'require', 'verify']

export function parseRelayUrl(raw: string): SmtpTarget {
  const url = new URL(raw)
  const secure = url.protocol === 'smtps:'
  const user = decodeURIComponent(url.username)
  const auth = user ? { user, pass: decodeURIComponent(url.password) } : undefined
  const requested = url.searchParams.get('tls')
  if (requested !== null && !POLICIES.includes(requested as TlsPolicy)) {
    throw new Error(`SMTP_RELAY_URL: tls must be one of ${POLICIES.join(', ')}`)
  }
  const tls = (requested as TlsPolicy | null) ?? (auth ? 'verify' : 'opportunistic')
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    tls,
    auth,
  }
}

/** The target without its password, safe to log and to show as an attempt's remote host. */
export const describeTarget = (t: SmtpTarget): string => `${t.host}:${t.port}`
