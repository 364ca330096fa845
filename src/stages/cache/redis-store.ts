import { Buffer } from 'node:buffer';
import type { Cluster, Redis } from 'ioredis';
import type { SharedRedis } from '../../core/redis.js';
import type { CachedEntry, CacheRecord } from './memory-store.js';

/** Stored form: 4-byte length of the JSON metadata, the metadata, then the body. */
interface EntryMeta {
  kind: 'entry';
  status: number;
  statusMessage?: string | undefined;
  headers: Record<string, string | string[]>;
  /** Wall clock (ms) it was stored: instances' monotonic clocks differ. */
  storedAtWall: number;
  initialAge: number;
  /** Freshness lifetime, ms. */
  lifetime: number;
}

interface VaryMeta {
  kind: 'vary';
  names: string[];
  id: string;
  /** Wall clock (ms) of the last fresh variant's expiry. */
  expiresWall: number;
}

/** A record as read from Redis, its times on the wall clock. */
export type SharedRecord =
  | {
      kind: 'entry';
      entry: Omit<CachedEntry, 'storedAt' | 'expires' | 'bytes' | 'kind'>;
      ageMs: number;
      lifetime: number;
    }
  | { kind: 'vary'; names: string[]; id: string; ttlMs: number };

/** Glob-escapes a key prefix for SCAN MATCH. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * The shared cache tier in the balancer's Redis: one key per record under
 * `keyPrefix`, expiring with the record's freshness (`SET … PX`). Every
 * failure reads as a miss or a dropped write: Redis being away never fails a
 * request. Purges reach other instances' memory tiers over pub/sub.
 *
 * @example
 * ```ts
 * import { RedisCacheStore } from './redis-store.js';
 * declare const memory: import('./memory-store.js').MemoryCacheStore;
 * const shared = new RedisCacheStore(redis, 'cache:', 1 << 20, (message) =>
 *   message.exact === undefined ? memory.purge(message.prefix) : memory.delete(message.exact),
 * );
 * ```
 */
export class RedisCacheStore {
  readonly #redis: SharedRedis;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #maxEntryBytes: number;
  readonly #subscriber: Redis | Cluster | undefined;
  readonly #subscribed: Promise<void>;
  readonly #origin = Math.random().toString(36).slice(2);

  constructor(
    redis: SharedRedis,
    keyPrefix: string,
    maxEntryBytes: number,
    onRemotePurge: (message: { prefix?: string; exact?: string }) => void,
  ) {
    this.#redis = redis;
    this.#prefix = `${redis.keyPrefix}${keyPrefix}`;
    this.#channel = `${this.#prefix}purge`;
    this.#maxEntryBytes = maxEntryBytes;
    try {
      const client = redis.client;
      // A subscriber connection of our own; it may queue the SUBSCRIBE until connected.
      const subscriber: Redis | Cluster =
        'nodes' in client
          ? (client as Cluster).duplicate()
          : (client as Redis).duplicate({ lazyConnect: false, enableOfflineQueue: true });
      subscriber.on('error', () => {});
      this.#subscribed = subscriber.subscribe(this.#channel).then(
        () => {},
        () => {},
      );
      subscriber.on('message', (channel: string, raw: string) => {
        if (channel !== this.#channel) return;
        try {
          const message = JSON.parse(raw) as { origin: string; prefix?: string; exact?: string };
          if (message.origin !== this.#origin) onRemotePurge(message);
        } catch {
          // Not ours: ignore.
        }
      });
      this.#subscriber = subscriber;
    } catch {
      this.#subscriber = undefined;
      this.#subscribed = Promise.resolve();
    }
  }

  /** Resolves once the purge channel is subscribed (or could not be). */
  ready(): Promise<void> {
    return this.#subscribed;
  }

  async get(key: string): Promise<SharedRecord | undefined> {
    if (!this.#redis.ready) return undefined;
    let raw: Buffer | null;
    try {
      raw = await this.#redis.client.getBuffer(this.#prefix + key);
    } catch {
      return undefined;
    }
    if (raw === null || raw.length < 4) return undefined;
    try {
      const metaLength = raw.readUInt32BE(0);
      const meta = JSON.parse(raw.subarray(4, 4 + metaLength).toString()) as EntryMeta | VaryMeta;
      const wallNow = Date.now();
      if (meta.kind === 'vary') {
        const ttlMs = meta.expiresWall - wallNow;
        return ttlMs > 0 ? { kind: 'vary', names: meta.names, id: meta.id, ttlMs } : undefined;
      }
      const ageMs = meta.initialAge + Math.max(0, wallNow - meta.storedAtWall);
      if (ageMs >= meta.lifetime) return undefined;
      return {
        kind: 'entry',
        entry: {
          status: meta.status,
          statusMessage: meta.statusMessage,
          headers: meta.headers,
          body: Buffer.from(raw.subarray(4 + metaLength)),
          initialAge: meta.initialAge,
        },
        ageMs,
        lifetime: meta.lifetime,
      };
    } catch {
      return undefined;
    }
  }

  /** Writes `record` with the freshness it has left, `ttlMs`. Entries over `maxEntryBytes` are not shared. */
  async set(key: string, record: CacheRecord, ttlMs: number): Promise<void> {
    if (!this.#redis.ready || ttlMs < 1) return;
    let meta: EntryMeta | VaryMeta;
    let body: Buffer | undefined;
    const wallNow = Date.now();
    if (record.kind === 'vary') {
      meta = { kind: 'vary', names: [...record.names], id: record.id, expiresWall: wallNow + ttlMs };
    } else {
      if (record.body.length > this.#maxEntryBytes) return;
      const age = record.initialAge;
      meta = {
        kind: 'entry',
        status: record.status,
        statusMessage: record.statusMessage,
        headers: { ...record.headers },
        storedAtWall: wallNow,
        initialAge: age,
        lifetime: age + ttlMs,
      };
      body = record.body;
    }
    const json = Buffer.from(JSON.stringify(meta));
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(json.length, 0);
    const value = body ? Buffer.concat([head, json, body]) : Buffer.concat([head, json]);
    try {
      await this.#redis.client.set(this.#prefix + key, value, 'PX', Math.ceil(ttlMs));
    } catch {
      // A lost write only costs a later miss.
    }
  }

  /**
   * Deletes `key` (exactly) here and, when Redis held it, in other
   * instances' memory tiers (their copies never outlive the shared one).
   */
  async delete(key: string): Promise<void> {
    if (!this.#redis.ready) return;
    try {
      const removed = await this.#redis.client.del(this.#prefix + key);
      if (removed > 0) await this.#publish({ exact: key });
    } catch {
      // Redis away: entries expire on their own.
    }
  }

  /** Deletes every key starting with `prefix` (all without one); returns the keys deleted, unprefixed. */
  async purge(prefix?: string): Promise<string[]> {
    const deleted: string[] = [];
    try {
      const client = this.#redis.client;
      const pattern = `${globEscape(this.#prefix + (prefix ?? ''))}*`;
      const nodes = 'nodes' in client ? (client as Cluster).nodes('master') : [client as Redis];
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
          cursor = next;
          const own = keys.filter((k) => k !== this.#channel);
          if (own.length > 0) {
            await Promise.all(own.map((k) => client.del(k)));
            for (const k of own) deleted.push(k.slice(this.#prefix.length));
          }
        } while (cursor !== '0');
      }
      await this.#publish(prefix === undefined ? {} : { prefix });
    } catch {
      // Redis away: what was deleted is reported; the rest expires on its own.
    }
    return deleted;
  }

  async #publish(message: { prefix?: string; exact?: string }): Promise<void> {
    await this.#redis.client.publish(this.#channel, JSON.stringify({ origin: this.#origin, ...message }));
  }

  async close(): Promise<void> {
    const subscriber = this.#subscriber;
    if (!subscriber || subscriber.status === 'end') return;
    const ended = new Promise<void>((resolve) => subscriber.once('end', () => resolve()));
    try {
      await subscriber.quit();
    } catch {
      subscriber.disconnect();
    }
    await ended;
  }
}
