import type { AddressInfo } from 'node:net'
import { createServer, type Socket } from 'node:net'

/**
 * A loopback SMTP receiver that never finishes: it speaks normally until `stage`, then answers
 * one byte every `byteEveryMs`, forever. No inactivity timer ever fires on such a peer; only a
 * hard cap on the transaction gets a sender out.
 * - `rcpt`: the reply to RCPT TO never ends (a multi-line reply, dribbled);
 * - `dot`: the whole message is taken, and the reply to its final dot is dribbled.
 */
export async function startTarpit(stage: 'rcpt' | 'dot', byteEveryMs = 300) {
  const sockets = new Set<Socket>()
  let sessions = 0
  let messages = 0
  const server = createServer((socket) => {
    sessions++
    sockets.add(socket)
    let timer: NodeJS.Timeout | undefined
    const dribble = (text: string) => {
      let i = 0
      timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer)
        socket.write(text[i % text.length] as string)
        i++
      }, byteEveryMs)
    }
    socket.on('close', () => {
      clearInterval(timer)
      sockets.delete(socket)
    })
    socket.on('error', () => {})
    socket.write('220 tarpit.test ESMTP\r\n')
    let buffer = ''
    let inData = false
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1')
      if (inData) {
        const end = buffer.indexOf('\r\n.\r\n')
        if (end < 0) return
        inData = false
        messages++
        buffer = buffer.slice(end + 5)
        return dribble('250-still thinking\r\n')
      }
      for (let nl = buffer.indexOf('\r\n'); nl >= 0 && !inData; nl = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, nl).toUpperCase()
        buffer = buffer.slice(nl + 2)
        if (line.startsWith('EHLO')) socket.write('250-tarpit.test\r\n250 8BITMIME\r\n')
        else if (line.startsWith('RCPT') && stage === 'rcpt') return dribble('250-still looking\r\n')
        else if (line.startsWith('MAIL') || line.startsWith('RCPT') || line.startsWith('RSET')) socket.write('250 ok\r\n')
        else if (line.startsWith('DATA')) {
          inData = true
          socket.write('354 go ahead\r\n')
        } else if (line.startsWith('QUIT')) socket.end('221 bye\r\n')
        else socket.write('502 not here\r\n')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `smtp://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get sessions() {
      return sessions
    },
    get messages() {
      return messages
    },
    /** Connections still open: a sender that gave up has closed its own. */
    get open() {
      return sockets.size
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
