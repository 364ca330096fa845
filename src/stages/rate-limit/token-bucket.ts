import type { RedisClient } from '../../core/redis.js';
import type { Clock, LimitDecision, Limiter, LimiterSettings } from './limiter.js';
import { evalScript, TOKEN_BUCKET, TOKEN_BUCKET_REFUND } from './lua.js';
import { isReady, type RedisStoreOptions, StoreFallback } from './store-fallback.js';
import { KeyTable } from './sweep.js';

/**
 * Turns a token-bucket state into a decision; shared by the in-memory and the
 * Redis limiter. `scaled` is the token count multiplied by the duration (so
 * refill, `elapsed × points`, stays an integer).
 */
export function tokenBucketDecision(
  points: number,
  duration: number,
  burst: number,
  cost: number,
  allowed: boolean,
  scaled: number,
  blockedMs: number,
): LimitDecision {
  const resetMs = Math.max(blockedMs, Math.ceil((burst * duration - scaled) / points));
  const remaining = Math.floor(scaled / duration);
  if (allowed) return { allowed, limit: burst, remaining, resetMs, retryAfterMs: 0 };
  let retryAfterMs: number;
  if (blockedMs > 0) retryAfterMs = blockedMs;
  else if (cost > burst) retryAfterMs = resetMs;
  else retryAfterMs = Math.ceil((cost * duration - scaled) / points);
  return { allowed, limit: burst, remaining: 0, resetMs, retryAfterMs: Math.max(1, retryAfterMs) };
}

interface Bucket {
  t: number;
  ts: number;
  b: number;
  expiresAt: number;
}

/**
 * Token bucket in memory: `burst` tokens (default `points`), refilled
 * continuously at `points` per `durationMs`; a request takes one. The twin of
 * the Redis script, exact to the millisecond. A refused request takes nothing.
 *
 * @example
 * ```ts
 * import { MemoryTokenBucket } from 'switchyard-lb';
 * // 10 requests per second on average, bursts of up to 50.
 * const limiter = new MemoryTokenBucket({ name: 'api', points: 10, durationMs: 1000, burst: 50, blockDurationMs: 0 });
 * limiter.consume('ip:10.0.0.1', 1).allowed; // true
 * ```
 */
export class MemoryTokenBucket implements Limiter {
  readonly name: string;
  readonly #points: number;
  readonly #duration: number;
  readonly #burst: number;
  readonly #block: number;
  readonly #now: Clock;
  readonly #map: KeyTable<Bucket>;

  constructor(settings: LimiterSettings, now: Clock = Date.now) {
    this.name = settings.name;
    this.#points = settings.points;
    this.#duration = settings.durationMs;
    this.#burst = settings.burst ?? settings.points;
    this.#block = settings.blockDurationMs;
    this.#now = now;
    this.#map = new KeyTable(settings.maxKeys);
  }

  consume(key: string, cost: number): LimitDecision {
    const now = Math.floor(this.#now());
    const points = this.#points;
    const cap = this.#burst * this.#duration;
    const scaledCost = cost * this.#duration;
    let bucket = this.#map.get(key);
    let tokens = cap;
    let ts = now;
    let blocked = 0;
    if (bucket) {
      tokens = bucket.t;
      ts = bucket.ts;
      blocked = bucket.b;
    }
    if (now > ts) {
      const elapsed = Math.min(now - ts, Math.ceil((cap - tokens) / points));
      tokens = Math.min(cap, tokens + elapsed * points);
      ts = now;
    }
    let allowed = false;
    if (blocked > now) allowed = false;
    else if (tokens >= scaledCost) {
      tokens -= scaledCost;
      allowed = true;
    } else if (this.#block > 0) blocked = now + this.#block;
    const expiresAt = Math.max(now + Math.ceil((cap - tokens) / points), blocked);
    if (bucket) {
      bucket.t = tokens;
      bucket.ts = ts;
      bucket.b = blocked;
      bucket.expiresAt = expiresAt;
    } else {
      bucket = { t: tokens, ts, b: blocked, expiresAt };
      this.#map.set(key, bucket, now);
    }
    return tokenBucketDecision(points, this.#duration, this.#burst, cost, allowed, tokens, Math.max(0, blocked - now));
  }

  refund(key: string, cost: number): void {
    const bucket = this.#map.get(key);
    if (bucket) bucket.t = Math.min(this.#burst * this.#duration, bucket.t + cost * this.#duration);
  }

  /** Keys held, expired ones not yet swept included. */
  get size(): number {
    return this.#map.size;
  }

  close(): void {
    this.#map.clear();
  }
}

/**
 * Token bucket on Redis: one atomic Lua script per request, one hash per key
 * that expires once the bucket would be full again (a full bucket and no key
 * are the same thing). While Redis is away the `onRedisError` policy applies.
 *
 * @example
 * ```ts
 * import { RedisTokenBucket } from 'switchyard-lb';
 * const limiter = new RedisTokenBucket(
 *   { name: 'api', points: 10, durationMs: 1000, burst: 50, blockDurationMs: 0 },
 *   { client, keyPrefix: 'lb:rl:tb:api:' },
 * );
 * await limiter.consume('ip:10.0.0.1', 1);
 * ```
 */
export class RedisTokenBucket implements Limiter {
  readonly name: string;
  readonly #settings: LimiterSettings;
  readonly #burst: number;
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #now: (() => number) | undefined;
  readonly #fallback: StoreFallback;
  readonly #insurance: MemoryTokenBucket;

  constructor(settings: LimiterSettings, store: RedisStoreOptions, insuranceClock: Clock = Date.now) {
    this.name = settings.name;
    this.#settings = settings;
    this.#burst = settings.burst ?? settings.points;
    this.#client = store.client;
    this.#prefix = store.keyPrefix;
    this.#now = store.now;
    this.#insurance = new MemoryTokenBucket(settings, insuranceClock);
    this.#fallback = new StoreFallback(
      store.onRedisError ?? 'insurance',
      this.#insurance,
      this.#burst,
      store.outageInstances,
    );
  }

  consume(key: string, cost: number): LimitDecision | Promise<LimitDecision> {
    if (!isReady(this.#client)) return this.#fallback.consume(key, cost);
    const { points, durationMs, blockDurationMs } = this.#settings;
    const burst = this.#burst;
    const now = this.#now ? Math.floor(this.#now()) : '';
    return evalScript(this.#client, TOKEN_BUCKET, this.#prefix + key, [
      points,
      durationMs,
      burst,
      cost,
      blockDurationMs,
      now,
    ]).then(
      (reply) => {
        const [allowed, scaled, blockedMs] = (reply as unknown[]).map(Number) as number[];
        return tokenBucketDecision(points, durationMs, burst, cost, allowed === 1, scaled ?? 0, blockedMs ?? 0);
      },
      () => this.#fallback.consume(key, cost),
    );
  }

  async refund(key: string, cost: number): Promise<void> {
    if (!isReady(this.#client)) return this.#fallback.refund(key, cost);
    const { durationMs } = this.#settings;
    try {
      await evalScript(this.#client, TOKEN_BUCKET_REFUND, this.#prefix + key, [
        cost * durationMs,
        this.#burst * durationMs,
      ]);
    } catch {
      // A lost refund only makes the bucket a little emptier.
    }
  }

  close(): void {
    this.#insurance.close();
  }
}
