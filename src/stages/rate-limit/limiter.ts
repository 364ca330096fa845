/**
 * What one limit decided for one request. Every built-in algorithm (fixed
 * window, sliding window, token bucket; in memory or on Redis) answers with
 * this shape, and so must a user's own {@link Limiter}.
 */
export interface LimitDecision {
  /** True when the request may proceed. */
  readonly allowed: boolean;
  /** The limit's capacity: points per window, or the bucket's burst. Sent as `RateLimit-Limit`. */
  readonly limit: number;
  /** Points left for this key after this request (0 when denied). Sent as `RateLimit-Remaining`. */
  readonly remaining: number;
  /** Milliseconds until the key's quota is whole again. Sent as `RateLimit-Reset` (seconds, rounded up). */
  readonly resetMs: number;
  /** When denied, milliseconds until a request could pass; 0 when allowed. Sent as `Retry-After`. */
  readonly retryAfterMs: number;
  /**
   * True when the limiter could not decide (its store is down and the policy
   * is `onRedisError: 'deny'`): the client gets 503, not 429.
   */
  readonly unavailable?: boolean;
}

/**
 * A rate limiter: one limit (points per duration, or a bucket) applied per key.
 * The built-in algorithms implement it; pass your own in `rateLimit.limits`
 * as `{ limiter }`.
 *
 * `consume` may answer synchronously (in-memory limiters do: no promise per
 * request) or with a promise. It must not throw for a limited key: that is
 * `allowed: false`. A thrown error or rejected promise means the limiter could
 * not decide; the balancer then lets the request through and warns.
 *
 * @example
 * ```ts
 * import { type Limiter } from 'switchyard-lb';
 * const everyoneOnce: Limiter = {
 *   name: 'once',
 *   seen: new Set<string>(),
 *   consume(key) {
 *     const allowed = !this.seen.has(key);
 *     this.seen.add(key);
 *     return { allowed, limit: 1, remaining: 0, resetMs: 0, retryAfterMs: allowed ? 0 : 60_000 };
 *   },
 * } as Limiter & { seen: Set<string> };
 * ```
 */
export interface Limiter {
  /** Name of the limit, unique within a balancer: used in events, headers policy and store keys. */
  readonly name: string;
  /** Spends `points` for `key`, or refuses. */
  consume(key: string, points: number): LimitDecision | Promise<LimitDecision>;
  /**
   * Gives back points spent by a request that a later limit refused, so a
   * refused request counts against no limit. Optional: without it the
   * earlier limits keep the spent points.
   */
  refund?(key: string, points: number): void | Promise<void>;
  /** Releases timers or connections. */
  close?(): void | Promise<void>;
}

/** A clock in milliseconds. */
export type Clock = () => number;

/** The three built-in algorithms. */
export type Algorithm = 'fixed-window' | 'sliding-window' | 'token-bucket';

/** How a Redis-backed limiter behaves while Redis cannot answer. */
export type RedisErrorPolicy = 'insurance' | 'allow' | 'deny';

/** Settings shared by the built-in limiters. */
export interface LimiterSettings {
  /** Name of the limit (part of every store key). */
  readonly name: string;
  /** Points allowed per `durationMs` (the refill amount of a token bucket). */
  readonly points: number;
  /** Window length, or the time a token bucket takes to refill `points`, in ms. */
  readonly durationMs: number;
  /** Once refused, the key stays refused this long, in ms (0: only until points are back). */
  readonly blockDurationMs: number;
  /** Token bucket capacity; the other algorithms ignore it. @default points */
  readonly burst?: number | undefined;
  /**
   * Most keys held in memory (the in-memory store, or a Redis store's
   * insurance); the least recently used key makes way for a new one. @default 100000
   */
  readonly maxKeys?: number | undefined;
}

/** A decision that lets a request through without counting it (store down, policy `allow`). */
export function passDecision(limit: number): LimitDecision {
  return { allowed: true, limit, remaining: limit, resetMs: 0, retryAfterMs: 0 };
}

/** A decision that refuses because the store cannot answer (policy `deny`). */
export function unavailableDecision(limit: number): LimitDecision {
  return { allowed: false, limit, remaining: 0, resetMs: 1000, retryAfterMs: 1000, unavailable: true };
}
