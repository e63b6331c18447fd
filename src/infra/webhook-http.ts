import { lookup as dnsLookup } from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import { isIP, type LookupFunction } from 'node:net'
import { performance } from 'node:perf_hooks'
import { isPrivateAddress } from '../lib/ip.js'

/**
 * The HTTP client that delivers webhooks to URLs our tenants choose. Anyone who can create an
 * endpoint chooses where Hikyaku connects, so it must not become a way into our own network
 * (SSRF), and a hostile or broken receiver must cost us a bounded amount of time and memory.
 * `post` never throws: every outcome, failure included, is a `WebhookResponse`.
 */
export type WebhookErrorCode = 'timeout' | 'refused_address' | 'redirect' | 'dns' | 'connection' | 'tls' | 'too_large' | 'invalid_url'

export interface WebhookResponse {
  ok: boolean
  status?: number
  durationMs: number
  /** The first `maxResponseBytes` bytes of the body, as text, without control characters but \n and \t. */
  body?: string
  error?: { code: WebhookErrorCode; message: string }
}

export interface WebhookClientOptions {
  /** Covers everything: DNS, waiting for a socket, connect, TLS, sending, status and body. */
  timeoutMs: number
  /** Lets private, loopback, link-local… addresses through: for tests and closed networks only. */
  allowPrivate: boolean
  /** How much of a response body is kept (default 1024). */
  maxResponseBytes?: number
  /** Sent when the caller's headers carry no user-agent. */
  userAgent?: string
  /** Connections to one host at most (default 100): requests in flight beyond it wait, within their timeout. */
  maxSocketsPerHost?: number
}

export interface WebhookClient {
  post(url: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<WebhookResponse>
  /** Closes pooled connections; later posts fail without connecting. */
  close(): void
}

const MAX_URL_LENGTH = 2048
const DEFAULT_MAX_RESPONSE_BYTES = 1024
/**
 * Reading past the kept bytes, up to this much, lets a socket that answered with a modest body
 * (an HTML error page, a verbose JSON reply) go back to the keep-alive pool. Past it, or when the
 * declared length is bigger, the socket is destroyed: a hostile endless body costs at most this,
 * never the whole timeout's worth of bandwidth.
 */
const DRAIN_LIMIT_BYTES = 64 * 1024
const DEFAULT_USER_AGENT = 'Hikyaku-Webhooks/1'
const REFUSED = 'EWEBHOOK_REFUSED_ADDRESS'
// Headers the client owns: a caller's value would desynchronise framing or stall the request.
const CLIENT_OWNED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'expect'])
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME', 'ENODATA', 'ESERVFAIL', 'ENONAME'])
const TLS_CODE_RE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT|HOSTNAME_MISMATCH|EPROTO$)/

type UrlVerdict = { ok: true; url: URL; host: string } | { ok: false; code: 'invalid_url' | 'refused_address'; reason: string }

/**
 * Validation for the API when an endpoint is created: scheme, no credentials, length, and hosts
 * that are private by their spelling alone (IP literals in any form the URL parser normalises,
 * `localhost`, `*.localhost`). DNS names are checked only when sending, against what they
 * resolve to then.
 */
export function checkWebhookUrl(url: string, allowPrivate: boolean): { ok: true; url: URL } | { ok: false; reason: string } {
  const verdict = inspectUrl(url, allowPrivate)
  return verdict.ok ? { ok: true, url: verdict.url } : { ok: false, reason: verdict.reason }
}

export function createWebhookClient(options: WebhookClientOptions): WebhookClient {
  const maxBytes = Math.max(0, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES)
  const drainLimit = Math.max(maxBytes, DRAIN_LIMIT_BYTES)
  const userAgent = options.userAgent ?? DEFAULT_USER_AGENT
  const lookup = guardedLookup(options.allowPrivate)
  // One pair of agents per client, so sockets opened under allowPrivate never serve a client
  // without it. `lookup` on the agent applies to every connection it opens, whatever the
  // request says. As many sockets per host as requests may be in flight (a busy receiver gets
  // all of them), all kept idle between bursts (keeping fewer than in use meant a new connection
  // for every other request under load), closed after 15 s unused (sooner if the server's
  // Keep-Alive hint says so); LIFO reuses the warmest.
  const perHost = Math.max(1, options.maxSocketsPerHost ?? 100)
  const agentOptions = { keepAlive: true, maxSockets: perHost, maxFreeSockets: perHost, maxTotalSockets: 1024, timeout: 15_000, lookup }
  const agents = {
    'http:': new http.Agent({ ...agentOptions, scheduling: 'lifo' }),
    'https:': new https.Agent({ ...agentOptions, scheduling: 'lifo' }),
  }
  let closed = false

  const post = (rawUrl: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<WebhookResponse> => {
    const started = performance.now()
    return new Promise<WebhookResponse>((resolve) => {
      let result: WebhookResponse | undefined
      let status: number | undefined
      let req: http.ClientRequest | undefined
      let timer: NodeJS.Timeout | undefined
      let finish: (() => void) | undefined // set once the status line is in

      const answer = (r: Omit<WebhookResponse, 'durationMs'>) => {
        if (result) return
        result = { ...r, durationMs: Math.round(performance.now() - started) }
        resolve(result)
      }
      // Ends the work behind an answer (which may already have been given: see the drain).
      const teardown = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const fail = (code: WebhookErrorCode, message: string) => {
        answer({ ok: false, ...(status === undefined ? {} : { status }), error: { code, message } })
        teardown()
        req?.destroy()
      }
      function onAbort() {
        fail('timeout', 'aborted before the receiver answered')
      }

      if (closed) return fail('connection', 'the webhook client is closed')
      const verdict = inspectUrl(rawUrl, options.allowPrivate)
      if (!verdict.ok) return fail(verdict.code, verdict.reason)
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      timer = setTimeout(() => fail('timeout', `no complete answer within ${options.timeoutMs} ms`), options.timeoutMs)

      const outgoing: Record<string, string> = { 'user-agent': userAgent }
      for (const [name, value] of Object.entries(headers)) {
        if (!CLIENT_OWNED.has(name.toLowerCase())) outgoing[name.toLowerCase()] = value
      }
      outgoing['content-length'] = String(Buffer.byteLength(body, 'utf8'))
      const { url, host } = verdict
      const protocol = url.protocol as 'http:' | 'https:'

      try {
        req = (protocol === 'https:' ? https : http).request({
          protocol,
          hostname: host,
          port: url.port || undefined,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          headers: outgoing,
          agent: agents[protocol],
          // Every connection resolves through the guard, and the socket connects to the very
          // address the guard approved: there is no second resolution between check and connect,
          // so DNS rebinding cannot slip a private address in. A pooled socket was checked when
          // it was opened. IP literals never reach `lookup`: inspectUrl checked them above.
          lookup,
        })
      } catch (err) {
        return fail('connection', `the request could not be built: ${messageOf(err)}`) // e.g. a header value with CR/LF
      }

      req.on('error', (err) => {
        if (!finish) return fail(...classify(err))
        // Cut off mid-body by the peer: the status line already said what it had to.
        finish()
        teardown()
      })
      req.on('response', (res) => {
        status = res.statusCode ?? 0
        const declared = Number(res.headers['content-length'] ?? Number.NaN)
        const location = res.headers.location
        const chunks: Buffer[] = []
        let kept = 0
        let seen = 0
        const done = () => answer(outcome(status ?? 0, location, decodeBody(Buffer.concat(chunks))))
        finish = done
        const stopReading = () => {
          done()
          teardown()
          res.destroy()
        }

        if (maxBytes === 0) done()
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length
          if (kept < maxBytes) {
            const part = Buffer.from(chunk.subarray(0, maxBytes - kept)) // a copy: never pin a whole chunk
            chunks.push(part)
            kept += part.length
          }
          if (kept < maxBytes) return
          // All we keep is here: answer now, then drain for reuse only while that stays cheap.
          done()
          if (seen > drainLimit || declared > drainLimit) stopReading()
        })
        res.on('end', () => {
          done()
          teardown() // the socket goes back to the pool
        })
        res.on('close', () => {
          done() // cut off mid-body, by the peer or by us: see req 'error'
          teardown()
        })
        res.on('error', () => {}) // followed by 'close'
      })
      req.end(body, 'utf8')
    })
  }

  return {
    async post(url, headers, body, signal) {
      try {
        return await post(url, headers, body, signal)
      } catch (err) {
        return { ok: false, durationMs: 0, error: { code: 'connection', message: messageOf(err) } }
      }
    },
    close() {
      closed = true
      agents['http:'].destroy()
      agents['https:'].destroy()
    },
  }
}

function outcome(status: number, location: string | undefined, body: string): Omit<WebhookResponse, 'durationMs'> {
  if (status >= 200 && status < 300) return { ok: true, status, body }
  if (status >= 300 && status < 400) {
    // Never followed: the target would escape the address check and could be anything.
    const to = location ? ` to ${sanitize(location).slice(0, 200)}` : ''
    return { ok: false, status, body, error: { code: 'redirect', message: `redirect (${status})${to} not followed` } }
  }
  return { ok: false, status, body }
}

function inspectUrl(raw: string, allowPrivate: boolean): UrlVerdict {
  if (typeof raw !== 'string' || raw.length === 0) return { ok: false, code: 'invalid_url', reason: 'the URL is empty' }
  if (raw.length > MAX_URL_LENGTH) return { ok: false, code: 'invalid_url', reason: `the URL is longer than ${MAX_URL_LENGTH} characters` }
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, code: 'invalid_url', reason: 'not a valid absolute URL' }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { ok: false, code: 'invalid_url', reason: 'only http and https URLs are allowed' }
  if (url.username || url.password) return { ok: false, code: 'invalid_url', reason: 'the URL must not contain credentials' }
  // The WHATWG parser has already turned 0x7f000001, 2130706433, 0177.0.0.1 and the like into
  // dotted IPv4, and compressed IPv6; only the brackets are left to remove.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  if (!host) return { ok: false, code: 'invalid_url', reason: 'the URL has no host' }
  if (allowPrivate) return { ok: true, url, host }
  if (isIP(host) !== 0 && isPrivateAddress(host)) {
    return { ok: false, code: 'refused_address', reason: 'the URL points to a private, loopback or otherwise non-public address' }
  }
  const name = host.toLowerCase().replace(/\.$/, '')
  if (name === 'localhost' || name.endsWith('.localhost')) {
    return { ok: false, code: 'refused_address', reason: 'localhost is not a public address' }
  }
  return { ok: true, url, host }
}

/**
 * A `lookup` for the sockets: resolves through the system resolver and refuses the name when any
 * address it resolves to is non-public (unless allowPrivate), so the connection never starts.
 * Node asks with `all: true` when it races IPv4 and IPv6 (autoSelectFamily), else for one address.
 */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '')
      if (!allowPrivate && addresses.some((a) => isPrivateAddress(a.address))) {
        // The address itself stays out of the message: it would tell a tenant about our network.
        const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to a private, loopback or otherwise non-public address`)
        refused.code = REFUSED
        return callback(refused, '')
      }
      const first = addresses[0]
      if (!first) {
        const none: NodeJS.ErrnoException = new Error(`${hostname} has no address`)
        none.code = 'ENOTFOUND'
        return callback(none, '')
      }
      if (options.all) return callback(null, addresses)
      callback(null, first.address, first.family)
    })
  }
}

function classify(err: unknown): [WebhookErrorCode, string] {
  // When every address of a happy-eyeballs race fails, Node reports an AggregateError.
  const inner = err instanceof AggregateError && err.errors.length > 0 ? err.errors[0] : err
  const code = String((err as NodeJS.ErrnoException).code ?? (inner as NodeJS.ErrnoException).code ?? '')
  const message = messageOf(inner)
  if (code === REFUSED) return ['refused_address', message]
  if (DNS_CODES.has(code)) return ['dns', message]
  if (code === 'HPE_HEADER_OVERFLOW') return ['too_large', 'the response headers are too large']
  if (TLS_CODE_RE.test(code)) return ['tls', message]
  return ['connection', message]
}

/** Text from the kept bytes; stream mode drops a multi-byte character cut at the cap. */
function decodeBody(bytes: Buffer): string {
  return sanitize(new TextDecoder('utf-8').decode(bytes, { stream: true }))
}

function sanitize(text: string): string {
  return text.replace(/(?![\n\t])\p{Cc}/gu, '')
}

function messageOf(err: unknown): string {
  return sanitize(err instanceof Error ? err.message : String(err)).slice(0, 500)
}
