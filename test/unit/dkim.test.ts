import assert from 'node:assert/strict'
import { createPublicKey } from 'node:crypto'
import { before, describe, it } from 'node:test'
import { dkimVerify } from 'mailauth/lib/dkim/verify.js'
import { type DkimKeyPair, dkimTxtValue, generateDkimKey, publishedKey } from '../../src/modules/domains/dkim.keys.js'
import { type DkimKey, relaxedBody, relaxedHeader, signMessage } from '../../src/modules/domains/dkim.sign.js'

/**
 * Signatures are checked by an independent verifier (mailauth 4), fetching the keys from TXT
 * records as a receiver would; the resolver below serves them.
 */
let rsa: DkimKeyPair
let ed25519: DkimKeyPair
const zone = new Map<string, string>()

const resolver = async (name: string, type: string): Promise<string[][]> => {
  const txt = zone.get(name.toLowerCase())
  if (type === 'TXT' && txt) return [[txt]]
  throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' })
}

const rsaKey = (): DkimKey => ({ domain: 'example.com', selector: 'hk1', algorithm: 'rsa-sha256', privateKey: rsa.privateKey })
const edKey = (): DkimKey => ({
  domain: 'example.com',
  selector: 'hk1-ed25519',
  algorithm: 'ed25519-sha256',
  privateKey: ed25519.privateKey,
})

async function results(message: Buffer) {
  const { results } = await dkimVerify(message, { resolver })
  return results.map((r) => ({
    result: r.status.result,
    comment: r.status.comment,
    algorithm: (r.status as { header?: { a?: string } }).header?.a,
  }))
}

const message = (lines: string[], eol = '\r\n') => Buffer.from(lines.join(eol))

const simple = () =>
  message([
    'From: Sender <sender@example.com>',
    'To: rcpt@example.net',
    'Subject: Hello',
    'Date: Fri, 27 Nov 2026 10:00:00 +0000',
    'Message-ID: <1@example.com>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello there.',
    '',
  ])

/** The DKIM-Signature fields a signed message starts with, unfolded. */
const signatureFields = (signed: Buffer): string[] =>
  signed
    .toString()
    .replace(/\r?\n[ \t]/g, ' ')
    .split(/\r?\n/)
    .filter((line) => line.startsWith('DKIM-Signature:'))

const tag = (field: string, name: string): string | undefined => new RegExp(`[; ]${name}=([^;]*)`).exec(field)?.[1]?.replace(/\s+/g, '')

before(async () => {
  ;[rsa, ed25519] = await Promise.all([generateDkimKey('rsa-sha256'), generateDkimKey('ed25519-sha256')])
  zone.set('hk1._domainkey.example.com', dkimTxtValue('rsa-sha256', rsa.publicKey))
  zone.set('hk1-ed25519._domainkey.example.com', dkimTxtValue('ed25519-sha256', ed25519.publicKey))
})

describe('DKIM signatures verified by mailauth', () => {
  it('rsa-sha256 passes', async () => {
    const signed = signMessage(simple(), [rsaKey()])
    assert.deepEqual(await results(signed), [{ result: 'pass', comment: undefined, algorithm: 'rsa-sha256' }])
  })

  it('ed25519-sha256 (RFC 8463) passes, alone and beside an RSA signature', async () => {
    assert.deepEqual(
      (await results(signMessage(simple(), [edKey()]))).map((r) => [r.algorithm, r.result]),
      [['ed25519-sha256', 'pass']],
    )
    const both = signMessage(simple(), [rsaKey(), edKey()])
    assert.equal(signatureFields(both).length, 2)
    assert.deepEqual(
      (await results(both)).map((r) => [r.algorithm, r.result]),
      [
        ['rsa-sha256', 'pass'],
        ['ed25519-sha256', 'pass'],
      ],
    )
  })

  it('signs folded headers and an 8-bit UTF-8 body byte for byte', async () => {
    const raw = message([
      'From: =?UTF-8?B?5bGx55Sw?= <sender@example.com>',
      'To: first@example.net,',
      '  second@example.net,\t',
      '\tthird@example.net',
      'Subject: 日本語の件名 with   runs of\t spaces',
      'Date: Fri, 27 Nov 2026 10:00:00 +0000',
      'Message-ID: <2@example.com>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'こんにちは、世界。',
      'Grüße — ça marche.',
      '',
    ])
    const signed = signMessage(raw, [rsaKey(), edKey()])
    assert.ok(signed.subarray(signed.length - raw.length).equals(raw), 'the message bytes are untouched')
    assert.deepEqual(
      (await results(signed)).map((r) => r.result),
      ['pass', 'pass'],
    )
  })

  it('keeps a message written with bare LF line endings in LF, and it verifies', async () => {
    const raw = message(['From: sender@example.com', 'To: rcpt@example.net', 'Subject: LF only', '', 'body', ''], '\n')
    const signed = signMessage(raw, [rsaKey()])
    const header = signed.subarray(0, signed.length - raw.length).toString()
    assert.ok(!header.includes('\r'), 'no CR added')
    assert.deepEqual(
      (await results(signed)).map((r) => r.result),
      ['pass'],
    )
  })

  it('relaxed body: trailing whitespace and empty lines do not matter, inner text does', async () => {
    const raw = message([
      'From: sender@example.com',
      'To: rcpt@example.net',
      'Subject: Relaxed',
      '',
      'Line one  \t ',
      '\tindented   text',
      '',
      ' ',
      '',
      '',
    ])
    const signed = signMessage(raw, [rsaKey()])
    assert.deepEqual(
      (await results(signed)).map((r) => r.result),
      ['pass'],
    )
    // What relaxed canonicalization forgives survives transport changes…
    const padded = Buffer.concat([signed.subarray(0, signed.length - 2), Buffer.from(' \t\r\n\r\n\r\n')])
    assert.deepEqual(
      (await results(padded)).map((r) => r.result),
      ['pass'],
    )
    // …but a changed word does not.
    const changed = Buffer.from(signed.toString().replace('indented', 'indentex'))
    assert.notEqual((await results(changed))[0]?.result, 'pass')
  })

  it('an empty body verifies', async () => {
    const raw = message(['From: sender@example.com', 'To: rcpt@example.net', 'Subject: Empty', '', ''])
    assert.deepEqual(
      (await results(signMessage(raw, [rsaKey(), edKey()]))).map((r) => r.result),
      ['pass', 'pass'],
    )
  })
})

describe('tampering is detected', () => {
  it('a changed body fails both algorithms', async () => {
    const signed = signMessage(simple(), [rsaKey(), edKey()])
    const tampered = Buffer.from(signed.toString().replace('Hello there.', 'Hello there!'))
    for (const r of await results(tampered)) {
      assert.notEqual(r.result, 'pass')
      assert.match(r.comment ?? '', /body hash/)
    }
  })

  it('a changed signed header fails both algorithms', async () => {
    const signed = signMessage(simple(), [rsaKey(), edKey()])
    const tampered = Buffer.from(signed.toString().replace('Subject: Hello', 'Subject: Hel1o'))
    assert.deepEqual(
      (await results(tampered)).map((r) => r.result),
      ['fail', 'fail'],
    )
  })

  it('From is oversigned: a second From added later breaks the signature', async () => {
    const signed = signMessage(simple(), [rsaKey()])
    const field = signatureFields(signed)[0] as string
    assert.deepEqual(
      tag(field, 'h')
        ?.split(':')
        .filter((h) => h === 'from'),
      ['from', 'from'],
    )
    const added = Buffer.from(signed.toString().replace('From: Sender', 'From: Mallory <m@evil.example>\r\nFrom: Sender'))
    assert.equal((await results(added))[0]?.result, 'fail')
  })

  it('a wrong published key fails', async () => {
    const other = await generateDkimKey('rsa-sha256')
    const signed = signMessage(simple(), [{ ...rsaKey(), privateKey: other.privateKey }])
    assert.equal((await results(signed))[0]?.result, 'fail')
  })
})

describe('the DKIM-Signature field', () => {
  it('carries relaxed/relaxed, the domain, selector, a timestamp, and lines of at most 78 characters', () => {
    const now = new Date('2026-11-27T10:00:00Z')
    const signed = signMessage(simple(), [rsaKey()], { now })
    const raw = simple()
    const header = signed.subarray(0, signed.length - raw.length).toString()
    for (const line of header.split('\r\n')) assert.ok(line.length <= 78, `line too long (${line.length}): ${line}`)
    const field = signatureFields(signed)[0] as string
    assert.equal(tag(field, 'v'), '1')
    assert.equal(tag(field, 'a'), 'rsa-sha256')
    assert.equal(tag(field, 'c'), 'relaxed/relaxed')
    assert.equal(tag(field, 'd'), 'example.com')
    assert.equal(tag(field, 's'), 'hk1')
    assert.equal(tag(field, 't'), String(now.getTime() / 1000))
  })

  it('signs each present header once per instance, plus extra headers when present', () => {
    const raw = message([
      'From: sender@example.com',
      'To: a@example.net',
      'Cc: b@example.net',
      'Cc: c@example.net',
      'Subject: Counting',
      'Feedback-ID: campaign:account:hikyaku',
      'X-Unsigned: yes',
      '',
      'body',
      '',
    ])
    const h = (extraHeaders?: string[]) => tag(signatureFields(signMessage(raw, [rsaKey()], { extraHeaders }))[0] as string, 'h')
    assert.equal(h(), 'from:from:to:cc:cc:subject')
    assert.equal(h(['Feedback-ID', 'List-Id']), 'from:from:to:cc:cc:subject:feedback-id')
  })

  it('returns the message unchanged when there is no key', () => {
    const raw = simple()
    assert.equal(signMessage(raw, []), raw)
  })
})

describe('canonicalization (RFC 6376 §3.4)', () => {
  it('relaxed header: lower-case name, unfolded, single spaces, none around the colon or at the end', () => {
    assert.equal(relaxedHeader('SubJect \t:  Hello \t  world\r\n\t again  \r\n'), 'subject:Hello world again')
  })

  it('relaxed body: the RFC example, CRLF endings, empty stays empty', () => {
    assert.equal(relaxedBody(' C \r\nD \t E\r\n\r\n\r\n'), ' C\r\nD E\r\n')
    assert.equal(relaxedBody('no final line break'), 'no final line break\r\n')
    assert.equal(relaxedBody('lf\nonly\n'), 'lf\r\nonly\r\n')
    assert.equal(relaxedBody('\r\n \r\n'), '')
    assert.equal(relaxedBody(''), '')
  })
})

describe('DKIM keys', () => {
  it('RSA-2048: p= is the base64 SPKI, published as v=DKIM1; k=rsa', () => {
    const key = createPublicKey({ key: Buffer.from(rsa.publicKey, 'base64'), format: 'der', type: 'spki' })
    assert.equal(key.asymmetricKeyType, 'rsa')
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048)
    assert.match(rsa.privateKey, /^-----BEGIN PRIVATE KEY-----/)
    assert.equal(dkimTxtValue('rsa-sha256', rsa.publicKey), `v=DKIM1; k=rsa; p=${rsa.publicKey}`)
  })

  it('Ed25519: p= is the raw 32-byte key; signatures are 64 bytes', () => {
    const raw = Buffer.from(ed25519.publicKey, 'base64')
    assert.equal(raw.length, 32)
    assert.equal(dkimTxtValue('ed25519-sha256', ed25519.publicKey), `v=DKIM1; k=ed25519; p=${ed25519.publicKey}`)
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' })
    assert.equal(key.asymmetricKeyType, 'ed25519')
    const signed = signMessage(simple(), [edKey()])
    const b = tag(signatureFields(signed)[0] as string, 'b') as string
    assert.equal(Buffer.from(b, 'base64').length, 64, 'an Ed25519 signature is 64 bytes')
  })

  it('publishedKey reads p= from a TXT record, ignoring folding whitespace', () => {
    assert.equal(publishedKey('v=DKIM1; k=rsa; p=AB CD\tEF'), 'ABCDEF')
    assert.equal(publishedKey('v=DKIM1; k=rsa'), undefined)
    assert.equal(publishedKey('v=DKIM1; p='), '')
  })
})
