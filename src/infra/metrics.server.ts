import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { withTimeout } from '../lib/timeout.js'
import type { Logger } from './logger.js'

export interface MetricsServerOptions {
  host: string
  /** 0: any free port (`port` on the result says which). */
  port: number
  /** Bearer token /metrics asks for; none: /metrics is open (config allows that on loopback only). */
  token?: string
  /** The process kind /healthz names. */
  kind: string
  /** The metrics in Prometheus text format. */
  scrape(): Promise<string>
  contentType: string
  /** Whether Postgres and Redis answer (the container's readiness check). */
  ready(): Promise<Record<string, 'ok' | 'down'>>
  logger: Logger
}

export interface MetricsServer {
  host: string
  port: number
  /** Stops listening and cuts the connections still open (a scrape in flight is not waited for). */
  close(): Promise<void>
}

/** How long /healthz waits for the readiness checks before answering 503. */
export const READY_TIMEOUT_MS = 3_000
/** A scrape answers within this, whatever the collectors do (each is bounded more tightly). */
const SCRAPE_TIMEOUT_MS = 10_000
/** Scrapers and probers keep few connections; this bounds what a misbehaving one can hold. */
const MAX_CONNECTIONS = 64

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

/**
 * Whether an Authorization header carries the token whose SHA-256 is `expected`. Both sides are
 * hashed first, so the comparison takes the same time whatever the length or content sent.
 */
export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '')
  const same = timingSafeEqual(digest(match?.[1] ?? ''), expected)
  return match !== null && same
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

const TEXT = 'text/plain; charset=utf-8'
const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * The listener of one process for Prometheus and health probes, apart from the API: `GET /metrics`
 * (text format; 401 without the bearer token when one is set) and `GET /healthz` (200 when
 * Postgres and Redis answer, else 503; JSON naming the process kind). It must never take the
 * process down: when it cannot listen (the port taken, say) the error is logged and undefined
 * returned, and the process serves on without it.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer | undefined> {
  const { logger, kind } = options
  const expected = options.token === undefined ? undefined : digest(options.token)

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, TEXT, 'Method not allowed\n', { allow: 'GET, HEAD' })
    if (path === '/metrics') {
      if (expected && !bearerMatches(req.headers.authorization, expected)) {
        return send(res, 401, TEXT, 'A bearer token is required (METRICS_TOKEN)\n', { 'www-authenticate': 'Bearer realm="metrics"' })
      }
      return send(res, 200, options.contentType, await withTimeout(options.scrape(), SCRAPE_TIMEOUT_MS, 'the metrics scrape'))
    }
    if (path === '/healthz') {
      const checks = await withTimeout(options.ready(), READY_TIMEOUT_MS, 'the readiness checks').catch(() => undefined)
      const ok = checks !== undefined && Object.values(checks).every((state) => state === 'ok')
      const body = { status: ok ? 'ok' : 'unavailable', kind, checks: checks ?? { postgres: 'unknown', redis: 'unknown' } }
      return send(res, ok ? 200 : 503, JSON_TYPE, JSON.stringify(body))
    }
    send(res, 404, TEXT, 'Not found: GET /metrics or /healthz\n')
  }

  const server = createServer({ requestTimeout: 15_000, headersTimeout: 5_000 }, (req, res) => {
    handle(req, res).catch((err) => {
      logger.warn({ err: String(err) }, 'metrics request failed')
      if (!res.headersSent) send(res, 500, TEXT, 'The metrics could not be read\n')
      else res.destroy()
    })
  })
  server.keepAliveTimeout = 5_000
  server.maxConnections = MAX_CONNECTIONS

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port, options.host, () => {
        server.removeListener('error', reject)
        resolve()
      })
    })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    logger.error(
      { err: String(err), code, host: options.host, port: options.port, kind },
      code === 'EADDRINUSE'
        ? 'the metrics and health port is taken; this process runs on without /metrics and /healthz (set METRICS_PORT)'
        : 'the metrics and health listener could not start; this process runs on without /metrics and /healthz',
    )
    return undefined
  }
  server.on('error', (err) => logger.warn({ err: String(err) }, 'metrics listener error'))
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  logger.info(
    { host: address.address, port: address.port, kind, url: `http://${shown}:${address.port}/metrics` },
    'metrics and health listening',
  )

  return {
    host: address.address,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
