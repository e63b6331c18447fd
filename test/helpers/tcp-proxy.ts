import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'

/**
 * A loopback TCP proxy in front of a real server (PostgreSQL in the tests), able to fail the way
 * networks do: lose a reply after the server committed (`lose-reply`, cut once a PostgreSQL
 * ReadyForQuery arrives), lose a request (`lose-request`), or stop answering altogether without
 * closing anything (`silent`: a hung server, no RST — only timeouts catch it).
 */
export type ProxyMode = 'pass' | 'lose-reply' | 'lose-request' | 'silent'

export async function startProxy(target: URL) {
  let mode: ProxyMode = 'pass'
  let cut = 0
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  }
  const server: Server = createServer((client) => {
    track(client)
    // Silent: connections are accepted and never answered (a server that hangs, no RST).
    if (mode === 'silent') return
    const upstream = tcpConnect(Number(target.port), target.hostname)
    track(upstream)
    const cutBoth = () => {
      cut++
      mode = 'pass'
      client.destroy()
      upstream.destroy()
    }
    let reply = Buffer.alloc(0)
    client.on('data', (chunk) => {
      if (mode === 'silent') return
      if (mode === 'lose-request') return cutBoth()
      upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      if (mode === 'silent') return
      if (mode !== 'lose-reply') return void client.write(chunk)
      // Hold the reply back until it ends in ReadyForQuery ('Z', length 5): the statement has
      // committed by then. Then drop the connection without passing any of it on.
      reply = Buffer.concat([reply, chunk])
      const z = reply.length - 6
      if (z >= 0 && reply[z] === 0x5a && reply.readInt32BE(z + 1) === 5) cutBoth()
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const url = new URL(target)
  url.host = `127.0.0.1:${port}`
  return {
    url: url.toString(),
    set: (next: ProxyMode) => {
      mode = next
    },
    cuts: () => cut,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
