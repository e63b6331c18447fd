import assert from 'node:assert/strict'
import dns from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import { syncBuiltinESMExports } from 'node:module'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { generate } from 'selfsigned'
import { checkWebhookUrl, createWebhookClient, type WebhookClient } from '../../src/infra/webhook-http.js'

/**
 * The webhook client against real servers on 127.0.0.1. A guard on net.Socket#connect records
 * every connection attempt and blocks any to an IP literal off the loopback range, so even a
 * regression in the address checks sends nothing to 10.x or 169.254.169.254.
 */
interface TestServer {
  base: string
  port: number
  connections: number
  requests: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }>
  closed: number
  close(): Promise<void>
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

const servers: TestServer[] = []
const clients: WebhookClient[] = []
const blockedConnects: string[] = []
const originalConnect = net.Socket.prototype.connect
const originalLookup = dns.lookup

async function startServer(handler: Handler, tls?: { key: string; cert: string }): Promise<TestServer> {
  const server = tls ? https.createServer(tls) : http.createServer()
  const state: TestServer = { base: '', port: 0, connections: 0, requests: [], closed: 0, close: async () => {} }
  // TCP connections, counted even when a TLS handshake then fails.
  server.on('connection', (socket: net.Socket) => {
    state.connections++
    socket.on('close', () => state.closed++)
  })
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      state.requests.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      handler(req, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.port = (server.address() as net.AddressInfo).port
  state.base = `${tls ? 'https' : 'http'}://127.0.0.1:${state.port}`
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  servers.push(state)
  return state
}

function client(options: Partial<Parameters<typeof createWebhookClient>[0]> = {}): WebhookClient {
  const c = createWebhookClient({ timeoutMs: 2_000, allowPrivate: true, ...options })
  clients.push(c)
  return c
}

/** Resolves `names` as given, like a DNS zone an attacker controls; other names as usual. */
function fakeDns(names: Record<string, Array<{ address: string; family: number }> | 'ENOTFOUND'>) {
  const fake = (hostname: string, options: unknown, callback: (...args: unknown[]) => void) => {
    const answer = names[hostname]
    if (answer === undefined) return (originalLookup as (...a: unknown[]) => void)(hostname, options, callback)
    if (answer === 'ENOTFOUND')
      return process.nextTick(callback, Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }))
    process.nextTick(callback, null, answer)
  }
  ;(dns as { lookup: unknown }).lookup = fake
  syncBuiltinESMExports() // the client's `import { lookup }` binding follows
}

function restoreDns() {
  ;(dns as { lookup: unknown }).lookup = originalLookup
  syncBuiltinESMExports()
}

async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, limit])
  } finally {
    clearTimeout(timer)
  }
}

async function until(what: string, probe: () => boolean, ms = 3_000) {
  const deadline = Date.now() + ms
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

before(() => {
  net.Socket.prototype.connect = function guarded(this: net.Socket, ...args: unknown[]) {
    const first = Array.isArray(args[0]) ? args[0][0] : args[0]
    const host = typeof first === 'object' && first !== null ? (first as { host?: string }).host : (args[1] as string | undefined)
    const loopback = host === undefined || host === 'localhost' || /^(127\.|::1$|::ffff:127\.)/.test(host)
    if (host && net.isIP(host) !== 0 && !loopback) {
      blockedConnects.push(host)
      process.nextTick(() => this.destroy(Object.assign(new Error(`test guard: no connection to ${host}`), { code: 'ETESTGUARD' })))
      return this
    }
    return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args)
  } as typeof net.Socket.prototype.connect
})

after(async () => {
  net.Socket.prototype.connect = originalConnect
  restoreDns()
  for (const c of clients) c.close()
  await Promise.all(servers.map((s) => s.close()))
  assert.deepEqual(blockedConnects, [], 'no connection was attempted to a non-loopback address')
})

describe('webhook http client', () => {
  it('posts the body and headers, and keeps the first bytes of a 2xx answer, cleaned', async () => {
    const server = await startServer((_req, res) => res.writeHead(200).end('ok\u0000\u0007\r\n\tdone\u001b[31m and a lot more after this'))
    const result = await client({ maxResponseBytes: 20 }).post(
      `${server.base}/hooks?x=1`,
      { 'Webhook-Id': 'msg_1', 'content-type': 'application/json', Host: 'evil.example', 'Content-Length': '1' },
      '{"a":"é"}',
    )
    assert.equal(result.ok, true)
    assert.equal(result.status, 200)
    assert.equal(result.body, 'ok\n\tdone[31m and') // 20 bytes, then the control characters removed
    assert.equal(result.error, undefined)
    assert.ok(result.durationMs >= 0 && result.durationMs < 2_000)
    const [seen] = server.requests
    assert.equal(seen?.url, '/hooks?x=1')
    assert.equal(seen?.body, '{"a":"é"}')
    assert.equal(seen?.headers['webhook-id'], 'msg_1')
    assert.equal(seen?.headers['user-agent'], 'Hikyaku-Webhooks/1')
    assert.equal(seen?.headers['content-length'], '10') // bytes, not characters; the caller's is ignored
    assert.equal(seen?.headers.host, `127.0.0.1:${server.port}`)
  })

  it('keeps the 1024 first bytes by default and drops a character cut by the cap', async () => {
    const server = await startServer((req, res) => res.writeHead(201).end(req.url === '/utf8' ? 'é'.repeat(10) : 'x'.repeat(5000)))
    const long = await client().post(`${server.base}/long`, {}, '{}')
    assert.equal(long.status, 201)
    assert.equal(long.body, 'x'.repeat(1024))
    const cut = await client({ maxResponseBytes: 5 }).post(`${server.base}/utf8`, {}, '{}')
    assert.equal(cut.body, 'éé')
  })

  it('reports other statuses as not ok, with their status and body', async () => {
    const server = await startServer((_req, res) => res.writeHead(500).end('boom'))
    const result = await client().post(server.base, {}, '{}')
    assert.deepEqual(
      { ok: result.ok, status: result.status, body: result.body, error: result.error },
      {
        ok: false,
        status: 500,
        body: 'boom',
        error: undefined,
      },
    )
  })

  it('never follows a redirect', async () => {
    const target = await startServer((_req, res) => res.writeHead(200).end('reached'))
    const server = await startServer((_req, res) => res.writeHead(302, { location: `${target.base}/next` }).end())
    const result = await client().post(server.base, {}, '{}')
    assert.equal(result.ok, false)
    assert.equal(result.status, 302)
    assert.equal(result.error?.code, 'redirect')
    assert.match(result.error?.message ?? '', /302/)
    assert.equal(target.connections, 0)
    assert.equal(target.requests.length, 0)
  })

  it('times out on a server that never answers, within the timeout and a small margin', async () => {
    const server = await startServer(() => {}) // reads the request, never responds
    const started = Date.now()
    const result = await within(3_000, 'timeout', client({ timeoutMs: 300 }).post(server.base, {}, '{}'))
    const elapsed = Date.now() - started
    assert.equal(result.error?.code, 'timeout')
    assert.equal(result.ok, false)
    assert.ok(elapsed >= 290 && elapsed < 1_000, `took ${elapsed} ms`)
    await until('the stalled socket is closed', () => server.closed === 1)
  })

  it('times out on a body that stalls before the kept bytes are in, keeping the status', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100' })
      res.write('partial')
    })
    const result = await within(3_000, 'stalled body', client({ timeoutMs: 300 }).post(server.base, {}, '{}'))
    assert.equal(result.error?.code, 'timeout')
    assert.equal(result.status, 200)
    assert.equal(result.ok, false)
  })

  it('answers from the status when the peer cuts the body short', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100' })
      res.write('partial', () => setTimeout(() => res.destroy(), 20))
    })
    const result = await within(3_000, 'cut body', client().post(server.base, {}, '{}'))
    assert.deepEqual({ ok: result.ok, status: result.status, body: result.body }, { ok: true, status: 200, body: 'partial' })
  })

  it('bounds an endless body: answers from the first bytes and closes the socket', async () => {
    let written = 0
    const chunk = Buffer.alloc(16 * 1024, 'z')
    const server = await startServer(async (_req, res) => {
      let wake = () => {}
      res.on('close', () => wake())
      res.writeHead(200, { 'content-type': 'text/plain' })
      // At most 64 MiB, and only while the client is still there.
      for (let i = 0; i < 4096 && !res.destroyed; i++) {
        written += chunk.length
        if (!res.write(chunk)) {
          await new Promise<void>((resolve) => {
            wake = resolve
            res.once('drain', resolve)
          })
        }
      }
      res.end()
    })
    const started = Date.now()
    const result = await within(3_000, 'endless body', client({ timeoutMs: 2_000 }).post(server.base, {}, '{}'))
    assert.equal(result.ok, true)
    assert.equal(result.body, 'z'.repeat(1024))
    assert.ok(Date.now() - started < 1_500)
    await until('the socket is closed', () => server.closed === 1)
    assert.ok(written < 32 * 1024 * 1024, `the server wrote ${written} bytes`)
  })

  it('reuses a kept-alive socket after a modest body, not after an oversized one', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/big') res.writeHead(200, { 'content-length': String(1024 * 1024) }).end(Buffer.alloc(1024 * 1024, 'b'))
      else res.writeHead(200).end('m'.repeat(10_000))
    })
    const c = client()
    for (let i = 0; i < 3; i++) assert.equal((await c.post(`${server.base}/modest`, {}, '{}')).ok, true)
    assert.equal(server.connections, 1)
    assert.equal((await c.post(`${server.base}/big`, {}, '{}')).ok, true)
    await until('the oversized answer closes its socket', () => server.closed === 1)
    assert.equal((await c.post(`${server.base}/modest`, {}, '{}')).ok, true)
    assert.equal(server.connections, 2)
  })

  describe('without allowPrivate', () => {
    const refused = [
      '127.0.0.1',
      'localhost',
      'LocalHost.',
      'api.localhost',
      '[::1]',
      '0x7f000001',
      '2130706433',
      '0177.0.0.1',
      '127.1',
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '169.254.169.254',
      '10.0.0.1',
      '100.64.0.1',
      '[fd00::1]',
      '[64:ff9b::a00:1]',
      '0.0.0.0',
    ]

    it('refuses private, loopback and link-local hosts without connecting', async () => {
      const server = await startServer((_req, res) => res.writeHead(200).end())
      const c = client({ allowPrivate: false })
      for (const host of refused) {
        const result = await within(1_000, host, c.post(`http://${host}:${server.port}/`, {}, '{}'))
        assert.equal(result.ok, false, host)
        assert.equal(result.error?.code, 'refused_address', `${host}: ${JSON.stringify(result)}`)
        assert.equal(result.status, undefined)
        assert.equal(checkWebhookUrl(`http://${host}:${server.port}/`, false).ok, false, host)
        assert.equal(checkWebhookUrl(`http://${host}:${server.port}/`, true).ok, true, host)
      }
      assert.equal(server.connections, 0)
      assert.equal(server.requests.length, 0)
    })

    it('refuses a name that resolves to a private address, checking every address it has', async () => {
      const server = await startServer((_req, res) => res.writeHead(200).end())
      fakeDns({
        'rebound.test': [{ address: '127.0.0.1', family: 4 }],
        'metadata.test': [{ address: '169.254.169.254', family: 4 }],
        'mixed.test': [
          { address: '93.184.215.14', family: 4 },
          { address: '10.1.2.3', family: 4 },
        ],
        'mapped.test': [{ address: '::ffff:10.0.0.1', family: 6 }],
      })
      try {
        const c = client({ allowPrivate: false })
        for (const host of ['rebound.test', 'metadata.test', 'mixed.test', 'mapped.test']) {
          assert.equal(checkWebhookUrl(`http://${host}/`, false).ok, true, 'a DNS name is checked only when sending')
          const result = await within(1_000, host, c.post(`http://${host}:${server.port}/`, {}, '{}'))
          assert.equal(result.error?.code, 'refused_address', host)
          assert.ok(!result.error?.message.match(/\d+\.\d+\.\d+\.\d+/), 'the private address is not disclosed')
        }
        const overTls = await within(1_000, 'https', c.post(`https://rebound.test:${server.port}/`, {}, '{}'))
        assert.equal(overTls.error?.code, 'refused_address', 'the https agent resolves through the same guard')
        // With allowPrivate the same name connects, to the address the lookup returned.
        const allowed = await client({ allowPrivate: true }).post(`http://rebound.test:${server.port}/`, {}, '{}')
        assert.equal(allowed.ok, true)
        assert.equal(server.requests.length, 1)
        assert.equal(server.requests[0]?.headers.host, `rebound.test:${server.port}`)
      } finally {
        restoreDns()
      }
    })

    it('reaches the loopback server when allowPrivate is set', async () => {
      const server = await startServer((_req, res) => res.writeHead(204).end())
      const c = client({ allowPrivate: true })
      assert.equal((await c.post(`${server.base}/`, {}, '{}')).status, 204)
      assert.equal((await c.post(`http://0x7f000001:${server.port}/`, {}, '{}')).status, 204)
      assert.equal(server.requests.length, 2)
    })
  })

  it('fails with tls on a self-signed certificate, sending no request', async () => {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keyType: 'ec',
      curve: 'P-256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    })
    const server = await startServer((_req, res) => res.writeHead(200).end(), { key: pems.private, cert: pems.cert })
    const result = await within(3_000, 'tls', client().post(`${server.base}/`, {}, '{}'))
    assert.equal(result.ok, false)
    assert.equal(result.error?.code, 'tls', JSON.stringify(result))
    assert.ok(server.connections >= 1)
    assert.equal(server.requests.length, 0)
  })

  it('classifies DNS, refused connections, oversized headers and bad URLs, never throwing', async () => {
    fakeDns({ 'gone.test': 'ENOTFOUND' })
    try {
      assert.equal((await client().post('http://gone.test/', {}, '{}')).error?.code, 'dns')
    } finally {
      restoreDns()
    }
    const closed = await startServer(() => {})
    await closed.close()
    assert.equal((await client().post(`${closed.base}/`, {}, '{}')).error?.code, 'connection')

    const raw = net.createServer((socket) => {
      socket.on('error', () => {})
      socket.end(`HTTP/1.1 200 OK\r\nx-big: ${'h'.repeat(64 * 1024)}\r\ncontent-length: 0\r\n\r\n`)
    })
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve))
    try {
      const port = (raw.address() as net.AddressInfo).port
      assert.equal((await client().post(`http://127.0.0.1:${port}/`, {}, '{}')).error?.code, 'too_large')
    } finally {
      await new Promise((resolve) => raw.close(resolve))
    }

    for (const bad of [
      'not a url',
      'ftp://example.com/',
      'http://user:pw@example.com/',
      `https://example.com/${'a'.repeat(2048)}`,
      'file:///etc/passwd',
    ]) {
      const result = await client().post(bad, {}, '{}')
      assert.equal(result.error?.code, 'invalid_url', bad)
    }
    const server = await startServer((_req, res) => res.writeHead(200).end())
    const injected = await client().post(server.base, { 'x-evil': 'a\r\nx-injected: 1' }, '{}')
    assert.equal(injected.ok, false)
    assert.equal(server.requests.length, 0)
  })

  it('stops on abort and after close', async () => {
    const server = await startServer(() => {})
    const c = client({ timeoutMs: 5_000 })
    const controller = new AbortController()
    const pending = c.post(server.base, {}, '{}', controller.signal)
    setTimeout(() => controller.abort(), 50)
    const aborted = await within(1_000, 'abort', pending)
    assert.equal(aborted.error?.code, 'timeout')
    assert.match(aborted.error?.message ?? '', /aborted/)
    assert.equal((await c.post(server.base, {}, '{}', AbortSignal.abort())).error?.code, 'timeout')
    c.close()
    const afterClose = await c.post(server.base, {}, '{}')
    assert.equal(afterClose.error?.code, 'connection')
  })
})

describe('checkWebhookUrl', () => {
  it('accepts public http and https URLs and returns the parsed URL', () => {
    for (const url of [
      'https://hooks.example.com/in?x=1',
      'http://example.com:8080/',
      'https://8.8.8.8/',
      'https://[2001:4860:4860::8888]/',
    ]) {
      const verdict = checkWebhookUrl(url, false)
      assert.equal(verdict.ok, true, url)
      if (verdict.ok) assert.equal(verdict.url.href, new URL(url).href)
    }
  })

  it('refuses other schemes, credentials, overlong URLs and non-URLs, whatever allowPrivate says', () => {
    const cases = [
      '',
      'example.com/hook',
      'ftp://example.com/',
      'javascript:alert(1)',
      'file:///etc/passwd',
      'https://user@example.com/',
      'https://:secret@example.com/',
      `https://example.com/${'a'.repeat(2030)}`,
    ]
    for (const url of cases) {
      for (const allowPrivate of [false, true]) {
        const verdict = checkWebhookUrl(url, allowPrivate)
        assert.equal(verdict.ok, false, url)
        if (!verdict.ok) assert.ok(verdict.reason.length > 0)
      }
    }
    assert.equal(checkWebhookUrl(`https://example.com/${'a'.repeat(2048 - 'https://example.com/'.length)}`, false).ok, true)
  })

  it('refuses private literals and localhost names unless allowPrivate, and leaves DNS names to send time', () => {
    for (const host of [
      '127.0.0.1',
      '[::1]',
      '10.1.2.3',
      '192.168.0.1',
      '172.16.0.1',
      '169.254.169.254',
      '[fe80::1]',
      'localhost',
      'x.localhost',
    ]) {
      assert.equal(checkWebhookUrl(`https://${host}/`, false).ok, false, host)
      assert.equal(checkWebhookUrl(`https://${host}/`, true).ok, true, host)
    }
    assert.equal(checkWebhookUrl('https://internal.corp.example/', false).ok, true)
    assert.equal(checkWebhookUrl('https://localhost.example.com/', false).ok, true)
  })
})
