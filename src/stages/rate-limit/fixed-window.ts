import type { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { rateLimiterFlexible } from '../../vendor/dependencies.js';
import { type MemoryStorage, replaceMemoryStorage } from '../../vendor/rate-limiter-flexible.js';
import type { Clock, LimitDecision, Limiter, LimiterSettings } from './limiter.js';
import { passDecision, unavailableDecision } from './limiter.js';
import { outageDivisor, type RedisStoreOptions } from './store-fallback.js';
import { KeyTable } from './sweep.js';

interface Entry {
  value: number;
  expiresAt: number;
}

/**
 * The storage rate-limiter-flexible's `RateLimiterMemory` delegates to, with
 * the same contract (`incrby`/`set`/`get`/`delete` answering
 * `RateLimiterRes`), but reading an injectable clock instead of `Date.now`
 * and expiring keys lazily instead of with one timer per key.
 */
class ClockedStorage implements MemoryStorage {
  readonly #map: KeyTable<Entry>;
  readonly #now: Clock;

  constructor(now: Clock, maxKeys: number | undefined) {
    this.#now = now;
    this.#map = new KeyTable<Entry>(maxKeys);
  }

  /** Keys held. */
  get size(): number {
    return this.#map.size;
  }

  incrby(key: string, value: number, durationSec: number): RateLimiterRes {
    const now = this.#now();
    const entry = this.#map.get(key);
    if (entry && entry.expiresAt > now) {
      entry.value += value;
      const ms = entry.expiresAt === Number.POSITIVE_INFINITY ? -1 : entry.expiresAt - now;
      return new (rateLimiterFlexible().RateLimiterRes)(0, ms, entry.value, false);
    }
    return this.set(key, value, durationSec);
  }

  set(key: string, value: number, durationSec: number): RateLimiterRes {
    const now = this.#now();
    const ms = durationSec * 1000;
    this.#map.set(key, { value, expiresAt: ms > 0 ? now + ms : Number.POSITIVE_INFINITY }, now);
    return new (rateLimiterFlexible().RateLimiterRes)(0, ms === 0 ? -1 : ms, value, true);
  }

  get(key: string): RateLimiterRes | null {
    const now = this.#now();
    const entry = this.#map.get(key);
    if (!entry || entry.expiresAt <= now) return null;
    const ms = entry.expiresAt === Number.POSITIVE_INFINITY ? -1 : entry.expiresAt - now;
    return new (rateLimiterFlexible().RateLimiterRes)(0, ms, entry.value, false);
  }

  delete(key: string): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}

/**
 * rate-limiter-flexible's `RateLimiterMemory` (its counting, blocking and
 * `RateLimiterRes` answers) on a {@link ClockedStorage}, so tests and the
 * balancer's `now` option drive its time.
 */
function clockedRateLimiterMemory(
  options: ConstructorParameters<typeof RateLimiterMemory>[0],
  now: Clock,
  maxKeys: number | undefined,
): { limiter: RateLimiterMemory; storage: ClockedStorage } {
  const limiter = new (rateLimiterFlexible().RateLimiterMemory)(options);
  const storage = new ClockedStorage(now, maxKeys);
  replaceMemoryStorage(limiter, storage);
  return { limiter, storage };
}

/**
 * Makes `limiter` (the Redis insurance) charge each request `divisor()` times
 * its cost, so an instance admits `1 / n` of the limit during an outage
 * (`rateLimit.outageInstances`); answers are given back in the caller's units.
 */
function shareOutage(limiter: RateLimiterMemory, divisor: () => number): void {
  const consume = limiter.consume.bind(limiter);
  const reward = limiter.reward.bind(limiter);
  const unscale = (res: RateLimiterRes, k: number) =>
    new (rateLimiterFlexible().RateLimiterRes)(
      Math.floor(res.remainingPoints / k),
      res.msBeforeNext,
      res.consumedPoints,
      res.isFirstInDuration,
    );
  limiter.consume = (key, points = 1, options) => {
    const k = divisor();
    if (k === 1) return consume(key, points, options);
    return consume(key, points * k, options).then(
      (res) => unscale(res, k),
      (reason: unknown) => {
        throw reason instanceof rateLimiterFlexible().RateLimiterRes ? unscale(reason, k) : reason;
      },
    );
  };
  limiter.reward = (key, points = 1, options) => reward(key, points * divisor(), options);
}

/** Where a fixed-window limiter keeps its counters. */
export interface FixedWindowOptions {
  /** Clock of the in-memory counters (and of the Redis insurance limiter). @default Date.now */
  readonly now?: Clock | undefined;
  /** Keep counters in Redis instead (rate-limiter-flexible's `RateLimiterRedis`). */
  readonly redis?: RedisStoreOptions | undefined;
}

function seconds(ms: number): number {
  return ms / 1000;
}

/**
 * Fixed window, rate-limiter-flexible's own algorithm: a key's window opens
 * at its first request and lasts `durationMs`; up to `points` requests pass in
 * it. In memory it is `RateLimiterMemory`; with `redis` it is
 * `RateLimiterRedis` (an atomic `SET NX PX` + `INCRBY` script), insured by an
 * in-memory twin while Redis is away (`onRedisError: 'insurance'`), or
 * passing (`'allow'`) or refusing (`'deny'`) everything meanwhile. Durations
 * are whole seconds (the Redis store counts in seconds).
 *
 * @example
 * ```ts
 * import { FixedWindow } from 'switchyard-lb';
 * const limiter = new FixedWindow({ name: 'api', points: 100, durationMs: 60_000, blockDurationMs: 0 });
 * const decision = await limiter.consume('ip:10.0.0.1', 1);
 * ```
 */
export class FixedWindow implements Limiter {
  readonly name: string;
  readonly #points: number;
  readonly #limiter: RateLimiterMemory | RateLimiterRedis;
  readonly #memory: RateLimiterMemory;
  readonly #storage: ClockedStorage;
  readonly #fallback: LimitDecision | undefined;
  readonly #allow: (res: RateLimiterRes) => LimitDecision;
  readonly #deny: (reason: unknown) => LimitDecision;
  /** In memory, not sharing an outage: counted right here, no promise per request (see `consume`). */
  readonly #direct: boolean;
  readonly #durationSec: number;
  readonly #blockSec: number;

  constructor(settings: LimiterSettings, options: FixedWindowOptions = {}) {
    this.name = settings.name;
    this.#points = settings.points;
    const base = {
      points: settings.points,
      duration: seconds(settings.durationMs),
      blockDuration: seconds(settings.blockDurationMs),
    };
    const memory = clockedRateLimiterMemory({ ...base, keyPrefix: '' }, options.now ?? Date.now, settings.maxKeys);
    this.#memory = memory.limiter;
    this.#storage = memory.storage;
    const redis = options.redis;
    if (redis?.outageInstances) shareOutage(this.#memory, outageDivisor(redis.outageInstances));
    this.#direct = redis === undefined;
    this.#durationSec = base.duration;
    this.#blockSec = base.blockDuration;
    const policy = redis?.onRedisError ?? 'insurance';
    if (redis) {
      this.#limiter = new (rateLimiterFlexible().RateLimiterRedis)({
        ...base,
        storeClient: redis.client,
        // rate-limiter-flexible joins prefix and key with ':'.
        keyPrefix: redis.keyPrefix.endsWith(':') ? redis.keyPrefix.slice(0, -1) : redis.keyPrefix,
        rejectIfRedisNotReady: true,
        ...(policy === 'insurance' ? { insuranceLimiter: this.#memory } : {}),
      } as ConstructorParameters<typeof RateLimiterRedis>[0]);
      this.#fallback =
        policy === 'allow'
          ? passDecision(settings.points)
          : policy === 'deny'
            ? unavailableDecision(settings.points)
            : undefined;
    } else {
      this.#limiter = this.#memory;
      this.#fallback = undefined;
    }
    const points = settings.points;
    this.#allow = (res) => ({
      allowed: true,
      limit: points,
      remaining: res.remainingPoints,
      resetMs: Math.max(0, res.msBeforeNext),
      retryAfterMs: 0,
    });
    this.#deny = (reason) => {
      if (reason instanceof rateLimiterFlexible().RateLimiterRes) {
        const wait = Math.max(1, reason.msBeforeNext);
        return { allowed: false, limit: points, remaining: 0, resetMs: wait, retryAfterMs: wait };
      }
      // The store failed and nothing insures it: the policy decides.
      if (this.#fallback) return this.#fallback;
      throw reason;
    };
  }

  consume(key: string, cost: number): LimitDecision | Promise<LimitDecision> {
    if (this.#direct) {
      // RateLimiterMemory.consume (rate-limiter-flexible 11.4.0, no keyPrefix, no
      // execEvenly) without its promise: same storage calls, same answers.
      const storage = this.#storage;
      const points = this.#points;
      let res = storage.incrby(key, cost, this.#durationSec);
      (res as { remainingPoints: number }).remainingPoints = Math.max(points - res.consumedPoints, 0);
      if (res.consumedPoints > points) {
        // Blocked only the first time the window is overdrawn.
        if (this.#blockSec > 0 && res.consumedPoints <= points + cost) {
          res = storage.set(key, res.consumedPoints, this.#blockSec);
        }
        return this.#deny(res);
      }
      return this.#allow(res);
    }
    return this.#limiter.consume(key, cost).then(this.#allow, this.#deny);
  }

  async refund(key: string, cost: number): Promise<void> {
    try {
      await this.#limiter.reward(key, cost);
    } catch {
      // A lost refund only makes this window a little stricter.
    }
  }

  close(): void {
    this.#storage.clear();
  }

  /** Keys held in memory (the in-memory store, or the Redis store's insurance). */
  get size(): number {
    return this.#storage.size;
  }

  /** Points per window. */
  get points(): number {
    return this.#points;
  }
}
