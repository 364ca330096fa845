/**
 * The one place switchyard replays opossum's internal accounting of a call.
 * `CircuitBreaker.fire()` makes promises per call; a closed breaker's call
 * can be counted without them by doing what `fire()`, `handleError()` and
 * `fail()` in opossum's `lib/circuit.js` do, in the same order, through the
 * public API (`emit`, `stats`, `open()`). That order is opossum's private
 * business: `opossum.test.ts` fails when the installed version or the
 * accounting changes, so an upgrade is a conscious step.
 *
 * @module
 */
import type CircuitBreaker from 'opossum';

/** The opossum version whose `fire`/`handleError`/`fail` this file replays. */
export const OPOSSUM_VERSION = '10.0.0';

/** What the replay reads and calls of a breaker: public members only. */
export type ReplayedBreaker = Pick<
  CircuitBreaker,
  'emit' | 'stats' | 'warmUp' | 'volumeThreshold' | 'halfOpen' | 'open' | 'closed' | 'pendingClose' | 'enabled'
>;

/** What the replay hands opossum's `fire`/`failure` listeners (opossum's own, which read none of it). */
const NO_ARGS: unknown[] = [];

/**
 * Whether a call may be counted by {@link replayFire} and {@link replaySettle}
 * instead of `fire()`: the breaker is closed, not about to close, and
 * enabled. The caller promises that no timeout, cache, coalescing, fallback,
 * capacity limit or abort controller is configured: `fire()` then adds
 * nothing else.
 *
 * @example
 * ```ts
 * import { canReplay } from './opossum.js';
 * declare const breaker: import('./opossum.js').ReplayedBreaker;
 * canReplay(breaker); // true for a fresh, closed breaker
 * ```
 */
export function canReplay(breaker: ReplayedBreaker): boolean {
  return breaker.closed && !breaker.pendingClose && breaker.enabled;
}

/**
 * What `fire()` counts as a call starts: its `fire` event (the rolling
 * window's `fires`, and in-flight calls weigh in the error rate from now).
 *
 * @example
 * ```ts
 * import { replayFire } from './opossum.js';
 * declare const breaker: import('./opossum.js').ReplayedBreaker;
 * replayFire(breaker);
 * ```
 */
export function replayFire(breaker: ReplayedBreaker): void {
  breaker.emit('fire', NO_ARGS);
}

/**
 * What opossum counts as a call ends: `success` when it succeeded or its
 * error is filtered (`failed` false: opossum's `errorFilter` said "not a
 * failure"); else `failure`, and, out of warm-up and past `volumeThreshold`
 * (or half-open), `open()` when the error rate is over
 * `errorThresholdPercentage`.
 *
 * @example
 * ```ts
 * import { replaySettle } from './opossum.js';
 * declare const breaker: import('./opossum.js').ReplayedBreaker;
 * const started = Date.now();
 * replaySettle(breaker, new Error('reset'), true, started, 50);
 * ```
 */
export function replaySettle(
  breaker: ReplayedBreaker,
  error: unknown,
  failed: boolean,
  started: number,
  errorThresholdPercentage: number,
): void {
  const latency = Date.now() - started;
  if (!failed) {
    breaker.emit('success', error, latency);
    return;
  }
  breaker.emit('failure', error, latency, NO_ARGS);
  if (breaker.warmUp) return;
  const stats = breaker.stats;
  if (stats.fires < breaker.volumeThreshold && !breaker.halfOpen) return;
  if ((stats.failures / stats.fires) * 100 > errorThresholdPercentage || breaker.halfOpen) breaker.open();
}
