import { createHash } from 'node:crypto';
import { LRU } from 'tiny-lru';
import type { SharedRedis } from '../../core/redis.js';

/**
 * Where sticky sessions (session key → backend id) live. `get` and `set` may
 * answer synchronously (memory) or with a promise (Redis); a store that
 * fails answers "no session" rather than failing the request.
 *
 * @example
 * ```ts
 * import { MemorySessionStore, type SessionStore } from './session-store.js';
 * const store: SessionStore = new MemorySessionStore({ maxEntries: 1000, now: () => performance.now() });
 * store.set('alice', 'b', 60_000);
 * store.get('alice', 60_000); // 'b' (and the session is extended)
 * ```
 */
export interface SessionStore {
  /** The backend id of session `key`, extending its life to `ttlMs`; `undefined` when none or expired. */
  get(key: string, ttlMs: number): string | undefined | Promise<string | undefined>;
  /** Binds session `key` to `backendId` for `ttlMs`. */
  set(key: string, backendId: string, ttlMs: number): void | Promise<void>;
  /** Forgets everything this store holds in memory (Redis keys expire on their own). */
  close(): void;
}

/** Session keys longer than this are stored as their SHA-256, so a huge header costs bounded memory. */
const MAX_KEY = 128;

/** The stored form of a session key: itself, or its hash when long. */
export function sessionKey(raw: string): string {
  return raw.length <= MAX_KEY ? raw : `#${createHash('sha256').update(raw).digest('base64url')}`;
}

interface Session {
  backend: string;
  expires: number;
}

/**
 * Sessions in a bounded in-process LRU (tiny-lru), each with its own expiry
 * on the balancer's clock.
 *
 * @example
 * ```ts
 * import { MemorySessionStore } from './session-store.js';
 * const store = new MemorySessionStore({ maxEntries: 100_000, now: () => performance.now() });
 * ```
 */
export class MemorySessionStore implements SessionStore {
  readonly #lru: LRU<Session>;
  readonly #now: () => number;

  constructor(options: { maxEntries: number; now: () => number }) {
    this.#lru = new LRU<Session>(options.maxEntries);
    this.#now = options.now;
  }

  get(key: string, ttlMs: number): string | undefined {
    const session = this.#lru.get(key);
    if (!session) return undefined;
    const now = this.#now();
    if (session.expires <= now) {
      this.#lru.delete(key);
      return undefined;
    }
    session.expires = now + ttlMs;
    return session.backend;
  }

  set(key: string, backendId: string, ttlMs: number): void {
    this.#lru.set(key, { backend: backendId, expires: this.#now() + ttlMs });
  }

  /** Sessions held, expired ones not yet touched included. */
  get size(): number {
    return this.#lru.size;
  }

  close(): void {
    this.#lru.clear();
  }
}

/**
 * Sessions in the balancer's shared Redis, so every instance routes a session
 * alike: `GETEX … PX` reads and extends in one round trip, `SET … PX` binds.
 * While Redis is away, lookups answer "no session" (the strategy chooses) and
 * writes are dropped.
 *
 * @example
 * ```ts
 * import { RedisSessionStore } from './session-store.js';
 * const store = new RedisSessionStore(shared, 'sticky:header:');
 * ```
 */
export class RedisSessionStore implements SessionStore {
  readonly #redis: SharedRedis;
  readonly #prefix: string;

  constructor(redis: SharedRedis, prefix: string) {
    this.#redis = redis;
    this.#prefix = `${redis.keyPrefix}${prefix}`;
  }

  async get(key: string, ttlMs: number): Promise<string | undefined> {
    try {
      const value = await this.#redis.client.getex(this.#prefix + key, 'PX', ttlMs);
      return value ?? undefined;
    } catch {
      return undefined;
    }
  }

  async set(key: string, backendId: string, ttlMs: number): Promise<void> {
    try {
      await this.#redis.client.set(this.#prefix + key, backendId, 'PX', ttlMs);
    } catch {
      // A lost write only costs one more fallback to the strategy.
    }
  }

  close(): void {}
}
