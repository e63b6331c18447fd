import nodemailer from 'nodemailer'
import type { Harness } from './harness.js'

/** A nodemailer transport submitting to the harness (STARTTLS on 587-style, or implicit TLS). */
export function smtpClient(h: Harness, opts: { implicit?: boolean; pass?: string; method?: 'PLAIN' | 'LOGIN' } = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: opts.implicit ? h.smtp!.smtpsPort : h.smtp!.smtpPort,
    secure: opts.implicit === true,
    requireTLS: !opts.implicit,
    auth: { user: 'apikey', pass: opts.pass ?? h.key, method: opts.method ?? 'PLAIN' },
    tls: { rejectUnauthorized: false },
  })
}
