import { parseDuration, parseDurationList } from './lib/duration.js'

/** The parsers and defaults the configuration tables (config.keys*.ts) are written with. */
export type HikyakuEnv = 'development' | 'production'

export interface KeySpec<T> {
  description: string
  parse: (raw: string) => T | undefined
  /** What a valid value looks like, for the error message. */
  expect: string
  /** Never echo the value in an error, only its length. */
  secret?: boolean
  default?: T | ((env: HikyakuEnv) => T | undefined)
}

export const int =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (raw: string) => {
    const n = Number(raw)
    return Number.isInteger(n) && n >= min && n <= max ? n : undefined
  }
export const str = (raw: string) => (raw.trim() === '' ? undefined : raw.trim())
/**
 * A duration between `min` and `max`, written with units (`30s`). Zero is never valid: a zero
 * lease, sweep interval or timeout means a busy loop, instant takeovers or instant failures. The
 * usual maximum, 24d, stays under the longest delay a Node.js timer holds (2^31-1 ms, about 24.8
 * days); a longer one would fire at once.
 */
const within = (min: string, max: string) => {
  const [lo, hi] = [parseDuration(min) as number, parseDuration(max) as number]
  return (ms: number | undefined) => ms !== undefined && ms >= lo && ms <= hi
}
export const duration = (min: string, like: string, max = '24d') => {
  const ok = within(min, max)
  return {
    parse: (raw: string) => {
      const ms = parseDuration(raw)
      return ok(ms) ? ms : undefined
    },
    expect: `a duration from ${min} to ${max}, like ${like}`,
  }
}
/** A comma-separated list of durations, each between `min` and `max`. */
export const durationList = (min: string, like: string, max = '24d') => {
  const ok = within(min, max)
  return {
    parse: (raw: string) => {
      const items = parseDurationList(raw)
      return items?.every(ok) ? items : undefined
    },
    expect: `durations from ${min} to ${max} each, like ${like}`,
  }
}
export const bool = (raw: string) =>
  ['true', '1', 'yes'].includes(raw.toLowerCase()) ? true : ['false', '0', 'no'].includes(raw.toLowerCase()) ? false : undefined
export const list = (raw: string) =>
  raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
export const oneOf =
  <T extends string>(...values: T[]) =>
  (raw: string) =>
    values.includes(raw as T) ? (raw as T) : undefined
export const url =
  (...protocols: string[]) =>
  (raw: string) => {
    try {
      return protocols.includes(new URL(raw).protocol) ? raw : undefined
    } catch {
      return undefined
    }
  }

export const dev =
  <T>(devValue: T, prodValue?: T) =>
  (env: HikyakuEnv) =>
    env === 'development' ? devValue : prodValue
