import type { Random } from './options.js'
import { BEHAVIOURS, type Behaviour, DOMAIN } from './receiver.js'

/**
 * Steady load: `POST /v1/emails` at a fixed rate, one recipient each, every address unique and
 * naming what the receiver will do with it. Each request's history is kept exactly as the client
 * saw it: 202 and an id, a refusal (a status code: nothing accepted), no connection at all, or no
 * answer (a timeout or a reset: it may have been accepted). One request in five carries an
 * Idempotency-Key and is retried, a bounded number of times, after an answer that leaves it unsure.
 */

export type TryOutcome = 'accepted' | 'refused' | 'unknown' | 'unreachable'

export interface Try {
  /** Milliseconds since the run started. */
  at: number
  ms: number
  outcome: TryOutcome
  status?: number
  id?: string
  /** The error code of a refusal, or the network error. */
  error?: string
}

export interface Offer {
  seq: number
  address: string
  behaviour: Behaviour
  idempotencyKey?: string
  tries: Try[]
  /** What the client ends up knowing: accepted if any try got a 202, else unknown if any try got no answer, … */
  final: TryOutcome
  id?: string
}

const RETRY_DELAYS_MS = [1_000, 2_000, 4_000]

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Draws behaviours by their weights. */
function behaviourDraw(random: Random): () => Behaviour {
  const entries = Object.entries(BEHAVIOURS) as Array<[Behaviour, number]>
  const total = entries.reduce((sum, [, w]) => sum + w, 0)
  return () => {
    let x = random.next() * total
    for (const [name, w] of entries) {
      x -= w
      if (x < 0) return name
    }
    return 'ok'
  }
}

/** One HTTP request, classified. A 503 that says the commit's fate is unknown is an unknown answer. */
async function post(url: string, apiKey: string, body: string, key: string | undefined, signal: AbortSignal, t0: number): Promise<Try> {
  const started = Date.now()
  const base = { at: started - t0 }
  try {
    const res = await fetch(`${url}/v1/emails`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${apiKey}`,
        'content-type': 'application/json',
        ...(key ? { 'idempotency-key': key } : {}),
      },
      body,
      signal,
    })
    const text = await res.text()
    const ms = Date.now() - started
    let json: { id?: string; error?: { code?: string; message?: string } } = {}
    try {
      json = JSON.parse(text)
    } catch {}
    if (res.status === 202 && typeof json.id === 'string') return { ...base, ms, outcome: 'accepted', status: 202, id: json.id }
    const maybe = res.status === 503 && /unknown/i.test(json.error?.message ?? '')
    return { ...base, ms, outcome: maybe ? 'unknown' : 'refused', status: res.status, error: json.error?.code ?? text.slice(0, 80) }
  } catch (err) {
    const ms = Date.now() - started
    const e = err as { name?: string; cause?: { code?: string; message?: string } }
    const code = e.cause?.code ?? e.name ?? 'error'
    // Refused at connect: the request never reached a server, so nothing can have been accepted.
    return { ...base, ms, outcome: code === 'ECONNREFUSED' ? 'unreachable' : 'unknown', error: code }
  }
}

const finalOf = (tries: Try[]): TryOutcome =>
  tries.some((t) => t.outcome === 'accepted')
    ? 'accepted'
    : tries.some((t) => t.outcome === 'unknown')
      ? 'unknown'
      : tries.some((t) => t.outcome === 'refused')
        ? 'refused'
        : 'unreachable'

export function createLoader(options: {
  apiUrl: string
  apiKey: string
  rate: number
  concurrency: number
  requestTimeoutMs: number
  seed: number
  random: Random
  t0: number
}) {
  const offers: Offer[] = []
  const draw = behaviourDraw(options.random)
  let inFlight = 0
  let shed = 0
  const pending = new Set<Promise<void>>()
  // Ctrl-C: the requests still going are abandoned (their outcome stays unknown).
  const abandon = new AbortController()

  async function send(offer: Offer): Promise<void> {
    const body = JSON.stringify({
      from: `Chaos <sender@${DOMAIN}>`,
      to: offer.address,
      subject: `chaos ${options.seed} #${offer.seq}`,
      text: `Message ${offer.seq} of chaos run ${options.seed}.`,
      tags: { run: String(options.seed) },
    })
    for (let i = 0; i === 0 || !abandon.signal.aborted; i++) {
      const signal = AbortSignal.any([AbortSignal.timeout(options.requestTimeoutMs), abandon.signal])
      const t = await post(options.apiUrl, options.apiKey, body, offer.idempotencyKey, signal, options.t0)
      offer.tries.push(t)
      const unsure = t.outcome === 'unknown' || t.outcome === 'unreachable' || (t.status ?? 0) >= 500 || t.status === 409
      if (!offer.idempotencyKey || t.outcome === 'accepted' || !unsure || i >= RETRY_DELAYS_MS.length) break
      await sleep(RETRY_DELAYS_MS[i] as number)
    }
    offer.final = finalOf(offer.tries)
    offer.id = offer.tries.find((t) => t.id)?.id
  }

  return {
    offers,
    get shed() {
      return shed
    },
    get inFlight() {
      return inFlight
    },
    /** Offers requests at the fixed rate until `until` (ms epoch) or `stopped()`. */
    async run(until: number, stopped: () => boolean): Promise<void> {
      const started = Date.now()
      let seq = 0
      while (!stopped()) {
        const now = Date.now()
        if (now >= until) break
        const due = Math.floor(((now - started) / 1000) * options.rate) + 1
        for (; seq < due; seq++) {
          if (inFlight >= options.concurrency) {
            shed++
            continue
          }
          const behaviour = draw()
          const offer: Offer = {
            seq,
            address: `${behaviour}-${seq}@${DOMAIN}`,
            behaviour,
            idempotencyKey: seq % 5 === 0 ? `chaos-${options.seed}-${seq}` : undefined,
            tries: [],
            final: 'unknown',
          }
          offers.push(offer)
          inFlight++
          const p: Promise<void> = send(offer).finally(() => {
            inFlight--
            pending.delete(p)
          })
          pending.add(p)
        }
        await sleep(Math.max(1, Math.ceil(started + (seq / options.rate) * 1000 - Date.now())))
      }
    },
    /** Abandons the requests still going: they end at once, their outcome unknown. */
    abandon: () => abandon.abort(),
    /** Waits for the requests still going (each is bounded by its timeout and retries). */
    async drain(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending])
    },
  }
}

export type Loader = ReturnType<typeof createLoader>
