import type { ConcurrencyLimit } from '../../core/backend.js';
import { Gradient2Limiter } from './gradient2.js';
import type { ConcurrencyLimiter } from './limiter.js';
import type { ResolvedAdaptiveConcurrencyOptions } from './options.js';
import { VegasLimiter } from './vegas.js';

/**
 * Builds the limiter of one backend from the `adaptiveConcurrency` option.
 *
 * @example
 * ```ts
 * import { createLimiter } from './adaptive-limit.js';
 * const limiter = config.adaptiveConcurrency ? createLimiter(config.adaptiveConcurrency, 'a', Math.random) : undefined;
 * ```
 */
export function createLimiter(
  options: ResolvedAdaptiveConcurrencyOptions,
  backend: string,
  random: () => number,
): ConcurrencyLimiter {
  const algorithm = options.algorithm;
  if (typeof algorithm === 'function') return algorithm(backend);
  const { initialLimit, minLimit, maxLimit, smoothing } = options;
  if (algorithm === 'vegas') {
    return new VegasLimiter({
      initialLimit,
      minLimit,
      maxLimit,
      smoothing: smoothing ?? 1,
      probeMultiplier: options.probeMultiplier,
      random,
    });
  }
  return new Gradient2Limiter({
    initialLimit,
    minLimit,
    maxLimit,
    smoothing: smoothing ?? 0.2,
    tolerance: options.tolerance,
    queueSize: options.queueSize,
    longWindow: options.longWindow,
  });
}

/**
 * A backend's adaptive limit as the pool sees it: a whole number of at least
 * one, and a callback whenever that number changes (for `limit:changed`, and
 * to wake queued requests when it grows).
 *
 * @example
 * ```ts
 * import { AdaptiveLimit } from './adaptive-limit.js';
 * import { VegasLimiter } from 'switchyard-lb';
 * declare const opts: import('./vegas.js').VegasOptions;
 * backend.limiter = new AdaptiveLimit(new VegasLimiter(opts), (limit, previous) => log(limit, previous));
 * ```
 */
export class AdaptiveLimit implements ConcurrencyLimit {
  readonly #limiter: ConcurrencyLimiter;
  readonly #onChange: (limit: number, previous: number) => void;
  #limit: number;

  constructor(limiter: ConcurrencyLimiter, onChange: (limit: number, previous: number) => void) {
    this.#limiter = limiter;
    this.#onChange = onChange;
    this.#limit = whole(limiter.limit, 1);
  }

  get limit(): number {
    return this.#limit;
  }

  sample(rttMs: number, inflight: number, dropped: boolean): void {
    this.#limiter.update(rttMs, inflight, dropped);
    const next = whole(this.#limiter.limit, this.#limit);
    if (next === this.#limit) return;
    const previous = this.#limit;
    this.#limit = next;
    this.#onChange(next, previous);
  }
}

/** A user limiter may report anything: keep a whole number >= 1, or the last good one. */
function whole(value: number, fallback: number): number {
  return Number.isFinite(value) ? Math.max(1, Math.floor(value)) : fallback;
}
