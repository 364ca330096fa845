import type { Buffer } from 'node:buffer';
import { LRU } from 'tiny-lru';

/** A stored response. */
export interface CachedEntry {
  readonly kind: 'entry';
  readonly status: number;
  readonly statusMessage: string | undefined;
  /** Response headers as stored (no `Age`, no hop-by-hop fields, never `Set-Cookie`). */
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly body: Buffer;
  /** Balancer clock time it was stored, ms. */
  readonly storedAt: number;
  /** Age it already had when it arrived (upstream `Age`), ms. */
  readonly initialAge: number;
  /** Balancer clock time it goes stale, ms. */
  readonly expires: number;
  /** Bytes it counts for against `maxBytes`. */
  readonly bytes: number;
}

/**
 * What a URL's responses vary on: the request headers (`Vary` plus
 * `keyHeaders`) whose values pick the variant. `id` is part of each variant's
 * key, so replacing or deleting this record orphans every old variant at once.
 */
export interface VaryRecord {
  readonly kind: 'vary';
  readonly names: readonly string[];
  readonly id: string;
  /** Balancer clock time after which no variant it points to can still be fresh, ms. */
  readonly expires: number;
  readonly bytes: number;
}

/** What a cache key holds. */
export type CacheRecord = CachedEntry | VaryRecord;

/** Why an entry left the cache (`cache:evict` events). */
export type EvictReason = 'lru' | 'expired' | 'bytes' | 'purge' | 'replaced';

/** Counted per entry on top of body, headers and key: the objects around them. */
const OVERHEAD = 128;

/**
 * The bytes a response will count for: body, header names and values, key
 * (twice: the LRU's map and its list node), plus a fixed overhead.
 *
 * @example
 * ```ts
 * import { entryBytes } from './memory-store.js';
 * entryBytes('example.com/', { 'content-type': 'text/plain' }, 5); // 5 + 10 + 24 + 128 + ...
 * ```
 */
export function entryBytes(
  key: string,
  headers: Readonly<Record<string, string | string[]>>,
  bodyBytes: number,
): number {
  let bytes = bodyBytes + OVERHEAD + 2 * key.length;
  for (const name in headers) {
    const value = headers[name] as string | string[];
    bytes += name.length + 4;
    if (typeof value === 'string') bytes += value.length;
    else for (const item of value) bytes += item.length + 4;
  }
  return bytes;
}

/**
 * The in-process cache tier: a tiny-lru LRU bounded by entry count, with
 * the total size tracked here and kept under `maxBytes` by evicting the least
 * recently used entries. tiny-lru's own TTL is not used: each record carries
 * its own expiry, checked on the balancer's clock.
 *
 * @example
 * ```ts
 * import { MemoryCacheStore } from './memory-store.js';
 * const store = new MemoryCacheStore({ maxEntries: 1000, maxBytes: 64 << 20, now: () => performance.now() });
 * ```
 */
export class MemoryCacheStore {
  readonly #lru: LRU<CacheRecord>;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #onEvict: ((key: string, bytes: number, reason: EvictReason) => void) | undefined;
  #bytes = 0;
  #evictions = 0;

  constructor(options: {
    maxEntries: number;
    maxBytes: number;
    now: () => number;
    onEvict?: (key: string, bytes: number, reason: EvictReason) => void;
  }) {
    this.#lru = new LRU<CacheRecord>(options.maxEntries);
    this.#maxBytes = options.maxBytes;
    this.#now = options.now;
    this.#onEvict = options.onEvict;
  }

  /** Bytes held now; never above `maxBytes` once a `set` returns. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Records held, stale ones not yet touched included. */
  get size(): number {
    return this.#lru.size;
  }

  /** Records that left the cache for want of room or freshness. */
  get evictions(): number {
    return this.#evictions;
  }

  #removed(key: string, record: CacheRecord, reason: EvictReason): void {
    this.#bytes -= record.bytes;
    if (reason !== 'purge') this.#evictions++;
    this.#onEvict?.(key, record.bytes, reason);
  }

  /** The fresh record at `key`, made most recently used; a stale one is dropped. */
  get(key: string): CacheRecord | undefined {
    const record = this.#lru.get(key);
    if (record === undefined) return undefined;
    if (record.expires <= this.#now()) {
      this.#lru.delete(key);
      this.#removed(key, record, 'expired');
      return undefined;
    }
    return record;
  }

  /** The record at `key` without touching its recency or freshness. */
  peek(key: string): CacheRecord | undefined {
    return this.#lru.peek(key);
  }

  /**
   * Stores `record` at `key`. Returns false, storing nothing, when the record
   * alone exceeds `maxBytes`.
   */
  set(key: string, record: CacheRecord): boolean {
    if (record.bytes > this.#maxBytes) return false;
    const previous = this.#lru.peek(key);
    if (previous !== undefined) {
      this.#bytes -= previous.bytes;
      // The old entry leaves too: listeners that count entries and bytes stay exact.
      this.#onEvict?.(key, previous.bytes, 'replaced');
    }
    const evicted = this.#lru.setWithEvicted(key, record);
    this.#bytes += record.bytes;
    if (evicted) this.#removed(evicted.key as string, evicted.value, 'lru');
    // tiny-lru bounds the count only: bytes are ours to bound.
    while (this.#bytes > this.#maxBytes) {
      const oldest = this.#lru.first;
      if (oldest === null) break;
      this.#lru.evict();
      this.#removed(oldest.key as string, oldest.value, 'bytes');
    }
    return true;
  }

  /** Deletes `key` if present (not its variants). */
  delete(key: string): boolean {
    const record = this.#lru.peek(key);
    if (record === undefined) return false;
    this.#lru.delete(key);
    this.#removed(key, record, 'purge');
    return true;
  }

  /** Deletes every key starting with `prefix` (everything without one); returns the keys deleted. */
  purge(prefix?: string): string[] {
    const keys: string[] = [];
    for (let item = this.#lru.first; item !== null; item = item.next) {
      const key = item.key as string;
      if (prefix === undefined || key.startsWith(prefix)) keys.push(key);
    }
    for (const key of keys) this.delete(key);
    return keys;
  }

  clear(): void {
    this.#lru.clear();
    this.#bytes = 0;
  }
}
