import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generate } from 'selfsigned'
import type { Config } from '../config.js'

export interface TlsPair {
  cert: Buffer
  key: Buffer
}

/**
 * The SMTP listeners' certificate: from SMTP_TLS_CERT/SMTP_TLS_KEY, or in development a
 * self-signed pair generated once under var/tls/ (so clients can pin it across restarts).
 */
export async function loadSmtpTls(config: Pick<Config, 'env' | 'varDir' | 'smtpTlsCert' | 'smtpTlsKey' | 'heloName'>): Promise<TlsPair> {
  if (config.smtpTlsCert && config.smtpTlsKey) {
    return { cert: readPem('SMTP_TLS_CERT', config.smtpTlsCert), key: readPem('SMTP_TLS_KEY', config.smtpTlsKey) }
  }
  if (config.env !== 'development') {
    throw new Error('SMTP needs a certificate in production: set SMTP_TLS_CERT and SMTP_TLS_KEY to PEM files')
  }
  const dir = join(config.varDir, 'tls')
  const certFile = join(dir, 'smtp-cert.pem')
  const keyFile = join(dir, 'smtp-key.pem')
  if (existsSync(certFile) && existsSync(keyFile)) return { cert: readFileSync(certFile), key: readFileSync(keyFile) }
  // An EC key: generated in milliseconds, accepted by every current TLS client.
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    notAfterDate: new Date(Date.now() + 825 * 86_400_000),
    algorithm: 'sha256',
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: config.heloName },
        ],
      },
    ],
  })
  mkdirSync(dir, { recursive: true })
  writeFileSync(certFile, pems.cert)
  writeFileSync(keyFile, pems.private, { mode: 0o600 })
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private) }
}

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new Error(`${variable}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
}
