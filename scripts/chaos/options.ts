import { parseArgs } from 'node:util'
import { parseDuration } from '../../src/lib/duration.js'

/** What one soak does; every value comes from a flag, else an environment variable, else a default. */
export interface ChaosOptions {
  /** How long the load and the faults run. */
  durationMs: number
  /** Requests per second offered by the loader. */
  rate: number
  /** Requests in flight at most; past it a tick is skipped (counted as shed). */
  concurrency: number
  /** Per-request timeout: past it the answer is unknown. */
  requestTimeoutMs: number
  /** Seeds the addresses' behaviours, the faults and their timing. */
  seed: number
  /** Pause between the end of one fault and the start of the next, drawn in [min, max]. */
  faultGapMs: [number, number]
  /** Longest wait, after the load stops, for every accepted recipient to be terminal. */
  settleMs: number
  /** Fault kinds to leave out (comma-separated names). */
  skip: string[]
  /** Where the summary and the processes' logs go. */
  outDir: string
  /** Damage the database before the check: a test of the checker (see sabotage.ts). */
  sabotage: boolean
}

const SPEC = {
  duration: { type: 'string' },
  rate: { type: 'string' },
  concurrency: { type: 'string' },
  'request-timeout': { type: 'string' },
  seed: { type: 'string' },
  'fault-gap': { type: 'string' },
  settle: { type: 'string' },
  skip: { type: 'string' },
  out: { type: 'string' },
  sabotage: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

export const USAGE = `Usage: npm run chaos -- [options]

A bounded soak of Hikyaku on private PostgreSQL, Redis and SMTP sink instances, with randomized
faults, then a check of every promise. Exit status 0 only when the checker finds no violation.

Options (environment variable in brackets):
  --duration 5m         load and faults for this long [CHAOS_DURATION]
  --rate 20             requests per second [CHAOS_RATE]
  --concurrency 64      requests in flight at most [CHAOS_CONCURRENCY]
  --request-timeout 15s a request unanswered this long has an unknown outcome [CHAOS_REQUEST_TIMEOUT]
  --seed N              seed of the randomness (default: from the clock, printed) [CHAOS_SEED]
  --fault-gap 5s,20s    pause between faults, drawn in this range [CHAOS_FAULT_GAP]
  --settle 3m           longest wait for every accepted recipient to be terminal [CHAOS_SETTLE]
  --skip a,b            fault kinds to leave out [CHAOS_SKIP]
  --out var/chaos       where the JSON summary and the logs go [CHAOS_OUT]
  --sabotage            damage the database in known ways before the check, which must
                        report each one: a test of the checker itself`

class OptionError extends Error {}

const positive = (name: string, raw: string, parse: (raw: string) => number | undefined): number => {
  const value = parse(raw)
  if (value === undefined || !Number.isFinite(value) || value <= 0) throw new OptionError(`${name}: not a valid value (${raw})`)
  return value
}
const duration = (name: string, raw: string) => positive(name, raw, parseDuration)
const number = (name: string, raw: string) => positive(name, raw, (r) => (r.trim() === '' ? undefined : Number(r)))

/** Parses argv and the environment; prints the usage and exits 2 on a bad value, 0 on --help. */
export function readOptions(argv: string[], env: NodeJS.ProcessEnv): ChaosOptions {
  try {
    const { values } = parseArgs({ args: argv, options: SPEC, strict: true, allowPositionals: false })
    if (values.help) {
      console.log(USAGE)
      process.exit(0)
    }
    const pick = (flag: keyof typeof SPEC, key: string, fallback: string): string =>
      (values[flag] as string | undefined) ?? env[key] ?? fallback
    const gap = pick('fault-gap', 'CHAOS_FAULT_GAP', '5s,20s').split(',')
    const [gapMin, gapMax] = gap.map((g, i) => duration(`fault gap ${i + 1}`, g))
    if (gap.length !== 2 || gapMin === undefined || gapMax === undefined || gapMin > gapMax) {
      throw new OptionError('--fault-gap: two durations, the shorter first, like 5s,20s')
    }
    const seedRaw = pick('seed', 'CHAOS_SEED', '')
    const seed = seedRaw === '' ? Date.now() % 2 ** 31 : Math.trunc(number('--seed', seedRaw))
    return {
      durationMs: duration('--duration', pick('duration', 'CHAOS_DURATION', '5m')),
      rate: number('--rate', pick('rate', 'CHAOS_RATE', '20')),
      concurrency: Math.trunc(number('--concurrency', pick('concurrency', 'CHAOS_CONCURRENCY', '64'))),
      requestTimeoutMs: duration('--request-timeout', pick('request-timeout', 'CHAOS_REQUEST_TIMEOUT', '15s')),
      seed,
      faultGapMs: [gapMin, gapMax],
      settleMs: duration('--settle', pick('settle', 'CHAOS_SETTLE', '3m')),
      skip: pick('skip', 'CHAOS_SKIP', '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      outDir: pick('out', 'CHAOS_OUT', 'var/chaos'),
      sabotage: values.sabotage === true,
    }
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
}

/** A small seeded generator (mulberry32): the same seed gives the same run of numbers. */
export function seededRandom(seed: number) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    /** An integer in [min, max]. */
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  }
}

export type Random = ReturnType<typeof seededRandom>
