import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net'

/**
 * A loopback TCP proxy that can go silent: while `hang` is on, it keeps every connection open
 * (and accepts new ones) but forwards nothing either way — a server that stopped answering
 * without closing anything, the failure that only timeouts catch.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  let hanging = false
  const pairs = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = createConnection(target)
    for (const s of [client, upstream]) {
      pairs.add(s)
      s.on('error', () => {})
      s.on('close', () => {
        pairs.delete(s)
        client.destroy()
        upstream.destroy()
      })
    }
    client.on('data', (chunk) => {
      if (!hanging) upstream.write(chunk)
    })
    upstream.on('data', (chunk) => {
      if (!hanging) client.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    hang(on: boolean) {
      hanging = on
    },
    async close() {
      for (const s of pairs) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
