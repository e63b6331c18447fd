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
