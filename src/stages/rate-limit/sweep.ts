/**
 * Amortised removal of expired entries from an in-memory limiter's map:
 * no timer per key (a flood of distinct keys would mean a flood of timers),
 * and no full scan per request. A scan runs when the map has doubled since
 * the last one, so its cost is O(1) per insert on average and the map holds
 * at most about twice the live keys.
 */
export class Sweeper<V extends { expiresAt: number }> {
  #threshold: number;
  readonly #minimum: number;

  constructor(minimum = 1024) {
    this.#minimum = minimum;
    this.#threshold = minimum;
  }

  /** Call after inserting a new key. */
  afterInsert(map: Map<string, V>, now: number): void {
    if (map.size < this.#threshold) return;
    for (const [key, value] of map) if (value.expiresAt <= now) map.delete(key);
    this.#threshold = Math.max(this.#minimum, map.size * 2);
  }
}
