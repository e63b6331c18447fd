import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { waitFor } from '../helpers/env.js'
import { type Harness, startHarness, workerEnv } from '../helpers/harness.js'
import { freePort, type Spawned, spawnHikyaku } from '../helpers/processes.js'

/**
 * A graceful stop of `hikyaku all` is bounded by SHUTDOWN_TIMEOUT whatever its clients do: an
 * SMTP session left open and idle, an HTTP upload that stopped sending. Every role stops at once
 * (each bounded by SHUTDOWN_TIMEOUT), and the process exits 0.
 */
const SHUTDOWN_MS = 2_000

describe('SIGTERM to `hikyaku all` with an idle SMTP session and an HTTP upload in progress (SHUTDOWN_TIMEOUT=2s)', () => {
  let h: Harness
  let hikyaku: Spawned | undefined
  let port: number
  let smtpsPort: number

  before(async () => {
    h = await startHarness({ worker: false })
    port = await freePort()
    smtpsPort = await freePort()
  })
  after(async () => {
    if (hikyaku && hikyaku.child.exitCode === null && hikyaku.child.signalCode === null) {
      hikyaku.child.kill('SIGKILL')
      await hikyaku.exited
    }
    await h.close()
  })

  it('exits 0 within SHUTDOWN_TIMEOUT and a few seconds, cutting both', async () => {
    const run = spawnHikyaku(
      ['all'],
      workerEnv(h, {
        HOST: '127.0.0.1',
        PORT: String(port),
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(await freePort()),
        SMTPS_PORT: String(smtpsPort),
        INBOUND_PORT: String(await freePort()),
        SMTP_RELAY_URL: 'smtp://127.0.0.1:9',
        SHUTDOWN_TIMEOUT: `${SHUTDOWN_MS}ms`,
      }),
    )
    hikyaku = run
    await waitFor(
      'the API to answer',
      () =>
        new Promise<true | undefined>((resolve) => {
          const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
            res.resume()
            resolve(res.statusCode === 200 ? true : undefined)
          })
          req.once('error', () => resolve(undefined))
          req.end()
        }),
      30_000,
      200,
    )

    // An SMTP session, logged in, that then says nothing (its idle timeout is a minute away).
    // The SMTP listeners start after the API.
    const smtp = await waitFor('an SMTP session', () => smtpSession(smtpsPort), 30_000, 200)
    assert.match(await smtp.command('EHLO idle.example'), /^250/)
    assert.match(await smtp.command(`AUTH PLAIN ${Buffer.from(`\0apikey\0${h.key}`).toString('base64')}`), /^235/)

    // An upload that declares 100 kB, sends one byte, and stops.
    const upload = httpRequest({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/emails',
      headers: { ...h.auth, 'content-type': 'application/json', 'content-length': 100_000 },
    })
    const uploadEnded = new Promise<string>((resolve) => {
      upload.once('error', (err) => resolve(err.message))
      upload.once('response', (res) => {
        res.resume()
        resolve(`HTTP ${res.statusCode}`)
      })
    })
    upload.write('{')
    // The request must be in the server's hands (headers read, body awaited) before the signal.
    await new Promise((resolve) => setTimeout(resolve, 500))

    const stopAt = Date.now()
    run.child.kill('SIGTERM')
    const bound = SHUTDOWN_MS + 5_000
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([
      run.exited,
      new Promise<'still running'>((resolve) => {
        timer = setTimeout(() => resolve('still running'), bound + 20_000)
      }),
    ])
    clearTimeout(timer)
    const took = Date.now() - stopAt
    assert.equal(code, 0, `exit status after ${took} ms:\n${run.output()}`)
    assert.ok(took < bound, `stopped within SHUTDOWN_TIMEOUT + 5 s (${took} ms)`)

    assert.match(smtp.received(), /421 /, 'the idle session was told the server is closing')
    await smtp.gone
    assert.ok(await uploadEnded, 'the upload was ended')
  })
})

/** An SMTP client over implicit TLS, one command at a time. */
async function smtpSession(port: number) {
  const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false })
  socket.setEncoding('utf8')
  socket.on('error', () => {})
  let all = ''
  let pending = ''
  let wake: (() => void) | undefined
  socket.on('data', (text: string) => {
    all += text
    pending += text
    wake?.()
  })
  const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.once('close', () => wake?.())
  const reply = async (): Promise<string> => {
    for (;;) {
      const match = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(pending)
      if (match) {
        pending = pending.slice(match[0].length)
        return match[0].trimEnd()
      }
      if (socket.destroyed) throw new Error(`connection closed; unanswered: ${JSON.stringify(pending)}`)
      await new Promise<void>((resolve) => {
        wake = resolve
      })
    }
  }
  assert.match(await reply(), /^220 /)
  return {
    command: async (line: string) => {
      socket.write(`${line}\r\n`)
      return reply()
    },
    /** Everything the server has sent so far. */
    received: () => all,
    gone,
  }
}
