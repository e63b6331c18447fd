/**
 * A bounded in-process cache with per-entry expiry. When full, the least recently used entry
 * goes. Values are often promises, so concurrent misses for one key share a single load.
 */
export function createTtlCache<V>(options: { maxEntries: number; now?: () => number }) {
  const now = options.now ?? Date.now
  const entries = new Map<string, { value: V; expiresAt: number }>()

  return {
    get(key: string): V | undefined {
      const entry = entries.get(key)
      if (!entry) return undefined
      entries.delete(key)
      if (entry.expiresAt <= now()) return undefined
      // Re-inserted: Map order is recency order, so the first key is the least recently used.
      entries.set(key, entry)
      return entry.value
    },

    set(key: string, value: V, ttlMs: number): void {
      entries.delete(key)
      entries.set(key, { value, expiresAt: now() + ttlMs })
      while (entries.size > options.maxEntries) entries.delete(entries.keys().next().value as string)
    },

    delete(key: string): void {
      entries.delete(key)
    },

    get size(): number {
      return entries.size
    },
  }
}

export type TtlCache<V> = ReturnType<typeof createTtlCache<V>>
