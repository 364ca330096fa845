/**
 * The most keys an in-memory limit holds unless `rateLimit.maxKeys` says
 * otherwise. At about 200 bytes a key (170 to 195 B measured on Node 24,
 * `src/stages/rate-limit/bounded-memory.test.ts`) that is some 20 MB per limit at worst, far more distinct clients than one instance sees in a window, while
 * a flood of attacker-chosen keys (`key: { header }`, rotating IPv6 networks,
 * spoofed `X-Forwarded-For` behind `trustProxy`) stays bounded.
 */
export const DEFAULT_MAX_KEYS = 100_000;

/**
 * The key table of an in-memory limiter: a `Map` kept in least-recently-used
 * order (a hit moves its key to the end) and bounded to `maxKeys`.
 *
 * - Expired entries go in amortised sweeps, not a timer per key (a flood of
 *   distinct keys would mean a flood of timers) nor a full scan per request:
 *   a sweep runs when the table has doubled since the last one, or, once it
 *   is full, after half a table of new keys: O(1) per insert on average.
 * - When the table is full of live keys, a new key evicts the least recently
 *   used one. That key starts afresh if it comes back: an attacker flooding
 *   keys can at worst reset the count of the quietest clients, never lock a
 *   new client out (refusing new keys would let a flood deny everyone).
 */
export class KeyTable<V extends { expiresAt: number }> {
  readonly #map = new Map<string, V>();
  readonly #max: number;
  readonly #minimum: number;
  #threshold: number;
  /** New keys since the last sweep: while full, a sweep waits for half a table of them (amortised O(1)). */
  #inserts = 0;

  constructor(maxKeys: number = DEFAULT_MAX_KEYS, minimum = 1024) {
    this.#max = maxKeys;
    this.#minimum = Math.min(minimum, maxKeys);
    this.#threshold = this.#minimum;
  }

  /** Keys held (expired ones included until the next sweep). */
  get size(): number {
    return this.#map.size;
  }

  /** The entry of `key`, now the most recently used one. */
  get(key: string): V | undefined {
    const map = this.#map;
    const value = map.get(key);
    if (value === undefined) return undefined;
    // Re-inserting moves the key to the end of the Map's order: the LRU order, at Map cost.
    map.delete(key);
    map.set(key, value);
    return value;
  }

  /** Whether `key` is held, without touching its place. */
  has(key: string): boolean {
    return this.#map.has(key);
  }

  /** Stores `value` under `key` as the most recently used entry, making room if needed. */
  set(key: string, value: V, now: number): void {
    const map = this.#map;
    if (map.delete(key)) {
      map.set(key, value);
      return;
    }
    this.#inserts++;
    const size = map.size;
    if (size >= this.#threshold || (size >= this.#max && this.#inserts * 2 >= this.#max)) this.#sweep(now);
    if (map.size >= this.#max) {
      // Full of live keys: the least recently used (first in order) makes way.
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
    map.set(key, value);
  }

  delete(key: string): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
    this.#threshold = this.#minimum;
  }

  #sweep(now: number): void {
    const map = this.#map;
    for (const [key, value] of map) if (value.expiresAt <= now) map.delete(key);
    this.#threshold = Math.max(this.#minimum, map.size * 2);
    this.#inserts = 0;
  }
}
