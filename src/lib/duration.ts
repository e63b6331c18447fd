const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/** Parses `500ms`, `30s`, `5m`, `72h`, `2d` into milliseconds; returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_RE.exec(text.trim())
  if (!match) return undefined
  return Math.round(Number(match[1]) * (UNITS[match[2] as string] as number))
}

/** Parses a comma-separated list of durations (`1m,5m,1h`); undefined when any item is malformed. */
export function parseDurationList(text: string): number[] | undefined {
  const items = text.split(',').map((item) => parseDuration(item))
  if (items.length === 0 || items.some((ms) => ms === undefined || ms <= 0)) return undefined
  return items as number[]
}

/** 600000 → "10m", 1500 → "1500ms": the largest unit that writes it without a fraction. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ]
  const [unit, size] = units.find(([, size]) => ms % size === 0) ?? ['ms', 1]
  return `${ms / size}${unit}`
}
