import type { Config } from '../../config.js'
import type { Dns } from '../../infra/dns.js'
import type { Logger } from '../../infra/logger.js'
import { normaliseDomain } from '../../lib/address.js'
import { AppError, notFound, validationFailed } from '../../lib/errors.js'
import type { SecretBox } from '../../lib/secret-box.js'
import { withTimeout } from '../../lib/timeout.js'
import { createTtlCache } from '../../lib/ttl-cache.js'
import { uuidv7 } from '../../lib/uuid.js'
import { generateDkimKey, type SealedKeyPurpose, sealedKeyAad } from './dkim.keys.js'
import { ed25519Selector, expectedRecords, type RecordSettings } from './domain.records.js'
import type { DomainRepository, StoredDomain } from './domain.repository.js'
import type { DnsRecord, DomainStatus, DomainView, SigningKey, VerifiedDomain } from './domain.types.js'
import { checkRecords, type DnsLookups } from './domain.verify.js'
import { checkSendingHost, type SendingHostCheck } from './sending-host.js'

/**
 * Sending domains: each gets a DKIM key (sealed at rest) and the DNS records to publish;
 * verification checks them. The delivery path asks for signing keys and verification per
 * message, so those answers are cached in memory for a short while.
 */
export interface DomainServiceDeps {
  repository: DomainRepository
  dns: DnsLookups & Pick<Dns, 'addresses' | 'reverse'>
  /** Seals the DKIM private keys (purpose `dkim`), each bound to its row (`sealedKeyAad`). */
  box: SecretBox
  config: Pick<
    Config,
    'dkimSelector' | 'dkimEd25519' | 'spfInclude' | 'spfIps' | 'bounceSubdomain' | 'bounceMxHost' | 'heloName' | 'mxSourceAddress'
  >
  /** Where operator problems (an unusable sealed key) are reported. */
  logger?: Logger
  now?: () => Date
}

/** Sending domains one account may have: each costs an RSA key generation and a DNS check per verify. */
export const MAX_DOMAINS_PER_ACCOUNT = 100

interface SendingDomain {
  verified: boolean
  keys: SigningKey[]
  /** Where bounces for this domain go: the envelope sender's domain in MX delivery. */
  returnPathDomain?: string
}

// A verified domain stays usable for up to a minute in other processes after it is deleted or
// fails a re-check; an unknown or unverified one is looked up again soon, so a domain verified
// through one API process is accepted by the others within seconds.
const VERIFIED_TTL_MS = 60_000
const UNVERIFIED_TTL_MS = 5_000
const CACHE_MAX_ENTRIES = 10_000

/** How long a verification waits for the sending-host check (which goes on, and is cached, after). */
const HOST_CHECK_WAIT_MS = 5_000

export function createDomainService(deps: DomainServiceDeps) {
  const { repository, dns, box, config } = deps
  let hostCheck: { value: SendingHostCheck; until: number } | undefined
  const now = deps.now ?? (() => new Date())
  const settings: RecordSettings = {
    spfInclude: config.spfInclude,
    spfIps: config.spfIps,
    bounceMxHost: config.bounceMxHost ?? config.heloName,
  }
  const cache = createTtlCache<Promise<SendingDomain>>({ maxEntries: CACHE_MAX_ENTRIES })
  const cacheKey = (accountId: string, name: string) => `${accountId}/${name.toLowerCase()}`

  /** Forward-confirmed reverse DNS of HELO_NAME and the sending address (a minute's cache: it is a host-wide fact). */
  // Callers at once share one lookup.
  let hostChecking: Promise<SendingHostCheck> | undefined
  async function sendingHost(): Promise<SendingHostCheck> {
    if (hostCheck && hostCheck.until > Date.now()) return hostCheck.value
    hostChecking ??= checkSendingHost(dns, config.heloName, config.mxSourceAddress)
      .then((value) => {
        hostCheck = { value, until: Date.now() + 60_000 }
        return value
      })
      .finally(() => {
        hostChecking = undefined
      })
    return hostChecking
  }

  const owned = async (accountId: string, id: string): Promise<StoredDomain> => {
    const domain = await repository.find(accountId, id)
    if (!domain) throw notFound('Domain')
    return domain
  }

  // A key that does not open is the operator's problem (HIKYAKU_SECRET changed, a row edited or
  // copied by hand, or not yet re-sealed by "hikyaku migrate"): the log says so, clients do not.
  const open = (domain: StoredDomain, sealed: string, purpose: SealedKeyPurpose): string => {
    try {
      return box.open(sealed, sealedKeyAad(domain, purpose))
    } catch (err) {
      deps.logger?.error(
        { err, domainId: domain.id, accountId: domain.accountId, domain: domain.name, purpose },
        'cannot decrypt a DKIM private key: HIKYAKU_SECRET differs from the one that sealed it, the sealed value was moved from another row, or "hikyaku migrate" has not re-sealed it yet',
      )
      throw new AppError('internal', 'A sending domain key is unusable; the server log has the details.', { cause: err })
    }
  }

  async function load(accountId: string, name: string): Promise<SendingDomain> {
    const domain = await repository.findByName(accountId, name.toLowerCase())
    if (!domain) return { verified: false, keys: [] }
    const keys: SigningKey[] = [
      {
        domain: domain.name,
        selector: domain.dkimSelector,
        algorithm: 'rsa-sha256',
        privateKey: open(domain, domain.dkimPrivateKey, 'dkim-rsa'),
      },
    ]
    if (domain.ed25519PrivateKey) {
      keys.push({
        domain: domain.name,
        selector: ed25519Selector(domain.dkimSelector),
        algorithm: 'ed25519-sha256',
        privateKey: open(domain, domain.ed25519PrivateKey, 'dkim-ed25519'),
      })
    }
    // VERP only once the return-path MX is published: a receiver that checks the envelope
    // sender's domain would otherwise refuse the mail over our own missing record.
    const returnPathReady = domain.records.some((r) => r.purpose === 'return-path' && r.type === 'MX' && r.status === 'found')
    return { verified: domain.verifiedAt !== null, keys, returnPathDomain: returnPathReady ? domain.returnPathDomain : undefined }
  }

  async function sendingDomain(accountId: string, name: string): Promise<SendingDomain> {
    const key = cacheKey(accountId, name)
    const cached = cache.get(key)
    if (cached) return cached
    const loading = load(accountId, name)
    cache.set(key, loading, UNVERIFIED_TTL_MS)
    try {
      const found = await loading
      if (found.verified && cache.get(key) === loading) cache.set(key, loading, VERIFIED_TTL_MS)
      return found
    } catch (err) {
      if (cache.get(key) === loading) cache.delete(key)
      throw err
    }
  }

  return {
    /** Creates the domain with fresh DKIM keys; its records are `pending` until verified. */
    async create(accountId: string, rawName: string): Promise<DomainView> {
      const name = normaliseDomain(rawName.trim().replace(/\.$/, ''))
      if (!name) throw validationFailed([{ path: '/name', message: `"${rawName}" is not a domain name (expected e.g. example.com)` }])
      const returnPathDomain = normaliseDomain(`${config.bounceSubdomain}.${name}`)
      if (!returnPathDomain) throw validationFailed([{ path: '/name', message: 'is too long to have a return-path subdomain' }])
      const conflict = () => new AppError('conflict', `${name} is already a sending domain of this account`)
      // Checked before generating keys as well as by the insert (two requests may race).
      if (await repository.findByName(accountId, name)) throw conflict()
      // Key generation is the costly part; the cap is checked before it (concurrent requests
      // may pass it together, by at most their number).
      if ((await repository.count(accountId)) >= MAX_DOMAINS_PER_ACCOUNT) {
        throw new AppError(
          'conflict',
          `This account already has ${MAX_DOMAINS_PER_ACCOUNT} sending domains, the most it may have; delete one it no longer uses first`,
        )
      }

      const [rsa, ed25519] = await Promise.all([
        generateDkimKey('rsa-sha256'),
        config.dkimEd25519 ? generateDkimKey('ed25519-sha256') : undefined,
      ])
      const selector = config.dkimSelector
      const records = expectedRecords(
        { name, returnPathDomain, selector, rsaPublicKey: rsa.publicKey, ed25519PublicKey: ed25519?.publicKey ?? null },
        settings,
      )
      const row = { id: uuidv7(), accountId }
      const stored = await repository.insert({
        ...row,
        name,
        dkimSelector: selector,
        dkimPrivateKey: box.seal(rsa.privateKey, sealedKeyAad(row, 'dkim-rsa')),
        dkimPublicKey: rsa.publicKey,
        ed25519PrivateKey: ed25519 ? box.seal(ed25519.privateKey, sealedKeyAad(row, 'dkim-ed25519')) : null,
        ed25519PublicKey: ed25519?.publicKey ?? null,
        returnPathDomain,
        records,
      })
      if (!stored) throw conflict()
      cache.delete(cacheKey(accountId, name))
      return view(stored)
    },

    async list(accountId: string, page: { limit: number; before?: string }): Promise<DomainView[]> {
      return (await repository.list(accountId, page)).map(view)
    },

    async get(accountId: string, id: string): Promise<DomainView> {
      return view(await owned(accountId, id))
    },

    async remove(accountId: string, id: string): Promise<void> {
      const domain = await owned(accountId, id)
      if (!(await repository.remove(accountId, id))) throw notFound('Domain')
      cache.delete(cacheKey(accountId, domain.name))
    },

    /**
     * Looks every record up (from the current configuration) and stores the verdicts. SPF and
     * DKIM decide: both found verifies the domain; either missing or mismatched un-verifies it;
     * a lookup that got no answer (SERVFAIL, timeout) leaves the previous state alone.
     */
    async verify(accountId: string, id: string): Promise<VerifiedDomain> {
      const domain = await owned(accountId, id)
      // The host check is cached and host-wide: looked up alongside the domain's records.
      const [records, host] = await Promise.all([
        checkRecords(expectedRecords(keysOf(domain), settings), dns),
        // Advice only: a slow resolver does not hold the domain's verdict back for long.
        withTimeout(sendingHost(), HOST_CHECK_WAIT_MS, 'the sending-host check').catch((err) => {
          deps.logger?.warn({ err: String(err) }, 'sending-host check failed')
          return undefined
        }),
      ])
      const decisive = records.filter(isDecisive).map((r) => r.status)
      let verifiedAt = domain.verifiedAt
      if (decisive.every((s) => s === 'found')) verifiedAt ??= now()
      else if (decisive.some((s) => s === 'missing' || s === 'mismatched')) verifiedAt = null
      const saved = await repository.saveCheck(accountId, domain.id, { records, verifiedAt, checkedAt: now() })
      cache.delete(cacheKey(accountId, domain.name))
      // Deleted while its records were being looked up.
      if (!saved) throw notFound('Domain')
      return { ...view(saved), warnings: verifyWarnings(saved.name, records, host), ...(host ? { sendingHost: host } : {}) }
    },

    /** Decrypted DKIM keys for mail from `domainName`; [] when the account has no such domain. */
    async signingKeys(accountId: string, domainName: string): Promise<SigningKey[]> {
      return (await sendingDomain(accountId, domainName)).keys
    },

    /** Keys and return-path domain for mail from `domainName` (no keys: not a sending domain of the account). */
    async signingIdentity(accountId: string, domainName: string): Promise<{ keys: SigningKey[]; returnPathDomain?: string }> {
      const { keys, returnPathDomain } = await sendingDomain(accountId, domainName)
      return { keys, returnPathDomain }
    },

    async isVerified(accountId: string, domainName: string): Promise<boolean> {
      return (await sendingDomain(accountId, domainName)).verified
    },

    sendingHost,
  }
}

export type DomainService = ReturnType<typeof createDomainService>

/** What a verification found worth fixing that does not decide it: no DMARC record, the sending host's reverse DNS. */
function verifyWarnings(name: string, records: DnsRecord[], host: SendingHostCheck | undefined): string[] {
  const warnings: string[] = []
  if (records.some((r) => r.purpose === 'dmarc' && r.status === 'missing'))
    warnings.push(`No DMARC record at _dmarc.${name}: Gmail, Yahoo and Microsoft require one of bulk senders (p=none is enough to start)`)
  if (host?.status === 'warning') warnings.push(...host.advice.map((a) => `Sending host: ${a}`))
  return warnings
}

/** SPF and DKIM decide verification; DMARC, the return path and Ed25519 are advice. */
const isDecisive = (record: DnsRecord): boolean => record.purpose === 'spf' || record.purpose === 'dkim'

const keysOf = (domain: StoredDomain) => ({
  name: domain.name,
  returnPathDomain: domain.returnPathDomain,
  selector: domain.dkimSelector,
  rsaPublicKey: domain.dkimPublicKey,
  ed25519PublicKey: domain.ed25519PublicKey,
})

/** Verified, or failed when the last check found SPF or DKIM missing or wrong; else pending. */
function statusOf(domain: StoredDomain): DomainStatus {
  if (domain.verifiedAt) return 'verified'
  const failed = (r: DnsRecord) => isDecisive(r) && (r.status === 'missing' || r.status === 'mismatched')
  return domain.records.some(failed) ? 'failed' : 'pending'
}

function view(domain: StoredDomain): DomainView {
  return {
    id: domain.id,
    name: domain.name,
    status: statusOf(domain),
    dkimSelector: domain.dkimSelector,
    returnPathDomain: domain.returnPathDomain,
    records: domain.records,
    verifiedAt: domain.verifiedAt,
    checkedAt: domain.checkedAt,
    createdAt: domain.createdAt,
  }
}
