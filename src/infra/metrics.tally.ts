import { Counter } from 'prom-client'

/** One series of a tally: the hot path adds to `value`, and that is all it does. */
export interface Slot {
  value: number
}

export interface Tally {
  /** The prom-client counter, to register; it reads the slots when scraped. */
  metric: Counter
  /** The slot of one label set, in `labelNames` order (made at zero on first use): look it up once, keep it. */
  slot(...values: string[]): Slot
}

/**
 * A counter whose hot path is one addition to a number kept per label set. prom-client hashes
 * the labels of every `inc` (a string built per call, even through `labels()`); here that is
 * done once per label set, and the values are copied into the counter only when it is scraped.
 * A slot made ahead of any event shows as 0, so rates work from the first scrape.
 */
export function createTally(name: string, help: string, labelNames: readonly string[]): Tally {
  const series: Array<{ labels: Record<string, string>; slot: Slot }> = []
  const byKey = new Map<string, Slot>()
  const metric = new Counter({
    name,
    help,
    labelNames: [...labelNames],
    registers: [],
    collect() {
      this.reset()
      for (const { labels, slot } of series) this.inc(labels, slot.value)
    },
  })
  return {
    metric,
    slot(...values) {
      const key = values.join('\u0000')
      let slot = byKey.get(key)
      if (!slot) {
        slot = { value: 0 }
        byKey.set(key, slot)
        series.push({ labels: Object.fromEntries(labelNames.map((n, i) => [n, values[i] ?? ''])), slot })
      }
      return slot
    },
  }
}
