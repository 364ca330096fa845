import type { RedisClient } from '../../core/redis.js';
import type { Clock, LimitDecision, Limiter, LimiterSettings } from './limiter.js';
import { evalScript, SLIDING_WINDOW, SLIDING_WINDOW_REFUND } from './lua.js';
import { isReady, type RedisStoreOptions, StoreFallback } from './store-fallback.js';
import { KeyTable } from './sweep.js';

/**
 * Turns a sliding-window state into a decision. Shared by the in-memory
 * limiter and the Redis one (whose script returns the same raw numbers), so
 * both report identical headers.
 *
 * The estimate of requests in the last window is
 * `prev × (window − elapsed) / window + cur`; it is kept multiplied by the
 * window so every comparison is on integers.
 */
export function slidingWindowDecision(
  points: number,
  window: number,
  cost: number,
  allowed: boolean,
  prev: number,
  cur: number,
  elapsed: number,
  blockedMs: number,
): LimitDecision {
  const resetMs = Math.max(blockedMs, cur > 0 ? 2 * window - elapsed : prev > 0 ? window - elapsed : 0);
  if (allowed) {
    const used = prev * (window - elapsed) + cur * window;
    const remaining = Math.max(0, Math.floor((points * window - used) / window));
    return { allowed, limit: points, remaining, resetMs, retryAfterMs: 0 };
  }
  let retryAfterMs: number;
  if (blockedMs > 0) retryAfterMs = blockedMs;
  else if (cost > points) retryAfterMs = resetMs;
  else {
    const budget = (points - cur - cost) * window;
    if (budget >= 0 && prev > 0) {
      // Still in this window: the first ms at which the fading previous count fits.
      retryAfterMs = window - Math.floor(budget / prev) - elapsed;
    } else {
      // Next window: this window's count becomes the fading one.
      const next = (points - cost) * window;
      const at = cur > 0 ? Math.max(0, window - Math.floor(next / cur)) : 0;
      retryAfterMs = window - elapsed + at;
    }
  }
  return { allowed, limit: points, remaining: 0, resetMs, retryAfterMs: Math.max(1, retryAfterMs) };
}

interface WindowState {
  w: number;
  c: number;
  p: number;
  b: number;
  expiresAt: number;
}

/**
 * Sliding-window limiter in memory (the twin of the Redis script, same
 * semantics to the millisecond). A client cannot send twice the limit across
 * a window edge: the previous window's count still weighs on the estimate.
 * Refused requests are not counted, so the limit bounds admitted traffic.
 *
 * @example
 * ```ts
 * import { MemorySlidingWindow } from 'switchyard-lb';
 * const limiter = new MemorySlidingWindow({ name: 'api', points: 100, durationMs: 60_000, blockDurationMs: 0 });
 * const decision = limiter.consume('ip:10.0.0.1', 1);
 * ```
 */
export class MemorySlidingWindow implements Limiter {
  readonly name: string;
  readonly #points: number;
  readonly #window: number;
  readonly #block: number;
  readonly #now: Clock;
  readonly #map: KeyTable<WindowState>;

  constructor(settings: LimiterSettings, now: Clock = Date.now) {
    this.name = settings.name;
    this.#points = settings.points;
    this.#window = settings.durationMs;
    this.#block = settings.blockDurationMs;
    this.#now = now;
    this.#map = new KeyTable(settings.maxKeys);
  }

  consume(key: string, cost: number): LimitDecision {
    const now = Math.floor(this.#now());
    const window = this.#window;
    let idx = Math.floor(now / window);
    let state = this.#map.get(key);
    let cur = 0;
    let prev = 0;
    let blocked = 0;
    if (state) {
      blocked = state.b;
      if (state.w > idx) {
        idx = state.w;
        cur = state.c;
        prev = state.p;
      } else if (state.w === idx) {
        cur = state.c;
        prev = state.p;
      } else if (state.w === idx - 1) prev = state.c;
    }
    const elapsed = Math.max(0, now - idx * window);
    let allowed = false;
    if (blocked > now) allowed = false;
    else if (prev * (window - elapsed) + (cur + cost) * window <= this.#points * window) {
      cur += cost;
      allowed = true;
    } else if (this.#block > 0) blocked = now + this.#block;
    const expiresAt = Math.max((idx + 2) * window, blocked);
    if (state) {
      state.w = idx;
      state.c = cur;
      state.p = prev;
      state.b = blocked;
      state.expiresAt = expiresAt;
    } else {
      state = { w: idx, c: cur, p: prev, b: blocked, expiresAt };
      this.#map.set(key, state, now);
    }
    return slidingWindowDecision(this.#points, window, cost, allowed, prev, cur, elapsed, Math.max(0, blocked - now));
  }

  refund(key: string, cost: number): void {
    const state = this.#map.get(key);
    if (state && state.c >= cost) state.c -= cost;
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
 * Sliding-window limiter on Redis: one atomic Lua script per request, one
 * hash per key with a TTL of at most two windows (plus any block). While
 * Redis is away the `onRedisError` policy applies (by default the in-memory
 * twin insures the limit locally).
 *
 * @example
 * ```ts
 * import { RedisSlidingWindow } from 'switchyard-lb';
 * const limiter = new RedisSlidingWindow(
 *   { name: 'api', points: 100, durationMs: 60_000, blockDurationMs: 0 },
 *   { client, keyPrefix: 'lb:rl:sw:api:' },
 * );
 * const decision = await limiter.consume('ip:10.0.0.1', 1);
 * ```
 */
export class RedisSlidingWindow implements Limiter {
  readonly name: string;
  readonly #settings: LimiterSettings;
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #now: (() => number) | undefined;
  readonly #fallback: StoreFallback;
  readonly #insurance: MemorySlidingWindow;

  constructor(settings: LimiterSettings, store: RedisStoreOptions, insuranceClock: Clock = Date.now) {
    this.name = settings.name;
    this.#settings = settings;
    this.#client = store.client;
    this.#prefix = store.keyPrefix;
    this.#now = store.now;
    this.#insurance = new MemorySlidingWindow(settings, insuranceClock);
    this.#fallback = new StoreFallback(
      store.onRedisError ?? 'insurance',
      this.#insurance,
      settings.points,
      store.outageInstances,
    );
  }

  consume(key: string, cost: number): LimitDecision | Promise<LimitDecision> {
    if (!isReady(this.#client)) return this.#fallback.consume(key, cost);
    const { points, durationMs, blockDurationMs } = this.#settings;
    const now = this.#now ? Math.floor(this.#now()) : '';
    return evalScript(this.#client, SLIDING_WINDOW, this.#prefix + key, [
      points,
      durationMs,
      cost,
      blockDurationMs,
      now,
    ]).then(
      (reply) => {
        const [allowed, prev, cur, elapsed, blockedMs] = (reply as unknown[]).map(Number) as number[];
        return slidingWindowDecision(
          points,
          durationMs,
          cost,
          allowed === 1,
          prev ?? 0,
          cur ?? 0,
          elapsed ?? 0,
          blockedMs ?? 0,
        );
      },
      () => this.#fallback.consume(key, cost),
    );
  }

  async refund(key: string, cost: number): Promise<void> {
    if (!isReady(this.#client)) return this.#fallback.refund(key, cost);
    try {
      await evalScript(this.#client, SLIDING_WINDOW_REFUND, this.#prefix + key, [cost]);
    } catch {
      // A lost refund only makes the limit a little stricter for one window.
    }
  }

  close(): void {
    this.#insurance.close();
  }
}
