import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { UnsubscribeOutcome, UnsubscribeService } from '../../modules/unsubscribe/unsubscribe.service.js'

export interface UnsubscribeRoutesOptions {
  unsubscribe: UnsubscribeService
}

const Params = Type.Object({ token: Type.String({ maxLength: 100 }) })

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)

// A page of its own, inline styles only, nothing loaded from elsewhere: the policy below forbids it.
const page = (title: string, body: string): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
  `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>` +
  `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}` +
  `button{font:inherit;padding:.5rem 1.25rem;border:0;border-radius:4px;background:#b3261e;color:#fff;cursor:pointer}</style>` +
  `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`

const INVALID = page('This link is not valid', '<p>It may have been mistyped, or the message it came with is no longer kept.</p>')

const done = (o: Extract<UnsubscribeOutcome, { kind: 'unsubscribed' }>) =>
  page(
    'You are unsubscribed',
    `<p><strong>${escapeHtml(o.address)}</strong> will no longer receive <strong>${escapeHtml(o.stream)}</strong> mail from this sender.` +
      ' Messages you ask for, such as receipts and password resets, still arrive.</p>',
  )

/**
 * One-click unsubscribe (RFC 8058), outside /v1 and without authentication: the signed token is
 * the authority. POST unsubscribes at once (what mailbox providers send for
 * `List-Unsubscribe=One-Click`, whatever its body); GET only shows a page whose button POSTs, so
 * that scanners and previews following links unsubscribe nobody.
 */
export const unsubscribeRoutes: FastifyPluginAsyncTypebox<UnsubscribeRoutesOptions> = async (app, { unsubscribe }) => {
  // The body says nothing we need (`List-Unsubscribe=One-Click` as a form, urlencoded or
  // multipart): any content type is taken, up to a few KiB, and ignored.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 8_192 }, (_request, _body, done) => done(null, undefined))
  app.addHook('onSend', async (_request, reply, payload) => {
    // Only the pages are HTML; an error of the framework (a body too large) stays JSON.
    if (typeof payload === 'string' && payload.startsWith('<!doctype html>')) reply.header('content-type', 'text/html; charset=utf-8')
    reply.header('cache-control', 'no-store')
    reply.header('referrer-policy', 'no-referrer')
    reply.header('x-content-type-options', 'nosniff')
    reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
  })

  app.get('/unsubscribe/:token', { schema: { hide: true, params: Params } }, async (request, reply) => {
    const outcome = await unsubscribe.peek(request.params.token)
    if (outcome.kind === 'invalid') return reply.status(404).send(INVALID)
    return reply.send(
      page(
        'Unsubscribe?',
        `<p>Stop sending <strong>${escapeHtml(outcome.stream)}</strong> mail to <strong>${escapeHtml(outcome.address)}</strong>?</p>` +
          `<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
      ),
    )
  })

  app.post('/unsubscribe/:token', { schema: { hide: true, params: Params } }, async (request, reply) => {
    const outcome = await unsubscribe.byLink(request.params.token)
    if (outcome.kind === 'invalid') return reply.status(404).send(INVALID)
    return reply.send(done(outcome))
  })
}
