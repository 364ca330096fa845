/**
 * An adaptive concurrency limit for one backend: it learns from each
 * exchange's round-trip time how many requests the backend can take at once.
 * Pass a factory as `adaptiveConcurrency.algorithm` to use your own.
 *
 * @example
 * ```ts
 * import { type ConcurrencyLimiter, createLoadBalancer } from 'switchyard-lb';
 * // AIMD: +1 per fast response, halve on a slow one or a timeout
 * class Aimd implements ConcurrencyLimiter {
 *   limit = 10;
 *   update(rttMs: number, _inflight: number, dropped: boolean) {
 *     this.limit = dropped || rttMs > 200 ? Math.max(1, this.limit / 2) : Math.min(500, this.limit + 1);
 *   }
 * }
 * createLoadBalancer({ backends, adaptiveConcurrency: { algorithm: () => new Aimd() } });
 * ```
 */
export interface ConcurrencyLimiter {
  /** Current limit: how many requests may be in flight to the backend. Read after every update; floored, at least 1. */
  readonly limit: number;
  /**
   * One exchange finished. `rttMs`: time to response headers (or to the
   * timeout, when `dropped`); `inflight`: requests in flight to the backend
   * at that moment, this one included; `dropped`: it timed out.
   */
  update(rttMs: number, inflight: number, dropped: boolean): void;
}

/**
 * Clamps `value` to [min, max].
 *
 * @example
 * ```ts
 * import { clamp } from './limiter.js';
 * clamp(0.5, 1, 1.7); // 1
 * ```
 */
export function clamp(min: number, max: number, value: number): number {
  return value < min ? min : Math.min(value, max);
}
