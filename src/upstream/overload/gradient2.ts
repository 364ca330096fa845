import { type ConcurrencyLimiter, clamp } from './limiter.js';

/** Options of {@link Gradient2Limiter}; see `adaptiveConcurrency` for defaults. */
export interface Gradient2Options {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  /** @default 0.2 */
  smoothing?: number;
  /** @default 1.5 */
  tolerance?: number;
  /** @default 4 */
  queueSize?: number;
  /** @default 600 */
  longWindow?: number;
}

/** Samples averaged plainly before the long-term average turns exponential, so it starts from a mean, not one outlier. */
const WARMUP = 10;

/**
 * Netflix Gradient2 (concurrency-limits): compares the current RTT with a
 * long-term exponential average of it.
 * `gradient = clamp(0.5, 1, tolerance · longRtt / rtt)`;
 * `new = limit · gradient + queueSize`; `limit = limit·(1-smoothing) + new·smoothing`.
 * Steady latency lets the limit grow by `queueSize·smoothing` per sample;
 * latency above `tolerance ×` the long-term average shrinks it (at most by
 * half per sample before smoothing). It does not grow while fewer than half
 * the limit are in flight (the backend is not the bottleneck then).
 *
 * @example
 * ```ts
 * import { Gradient2Limiter } from 'switchyard-lb';
 * const limiter = new Gradient2Limiter({ initialLimit: 20, minLimit: 1, maxLimit: 200 });
 * limiter.update(12, 20, false);
 * limiter.limit; // 20.8
 * ```
 */
export class Gradient2Limiter implements ConcurrencyLimiter {
  #limit: number;
  #longRtt = 0;
  #samples = 0;
  readonly #min: number;
  readonly #max: number;
  readonly #smoothing: number;
  readonly #tolerance: number;
  readonly #queueSize: number;
  readonly #factor: number;

  constructor(options: Gradient2Options) {
    this.#limit = options.initialLimit;
    this.#min = options.minLimit;
    this.#max = options.maxLimit;
    this.#smoothing = options.smoothing ?? 0.2;
    this.#tolerance = options.tolerance ?? 1.5;
    this.#queueSize = options.queueSize ?? 4;
    this.#factor = 2 / ((options.longWindow ?? 600) + 1);
  }

  get limit(): number {
    return this.#limit;
  }

  /** The long-term RTT average, in ms. */
  get longRtt(): number {
    return this.#longRtt;
  }

  update(rttMs: number, inflight: number, _dropped: boolean): void {
    // A dropped (timed-out) exchange counts with its elapsed time: a very slow sample.
    const rtt = Math.max(rttMs, 0.001);
    if (this.#samples < WARMUP) {
      this.#samples++;
      this.#longRtt += (rtt - this.#longRtt) / this.#samples;
    } else {
      this.#longRtt += (rtt - this.#longRtt) * this.#factor;
    }
    // After a long overload the long-term average lags far above the present:
    // pull it down faster so the limit can recover.
    if (this.#longRtt / rtt > 2) this.#longRtt *= 0.9;
    if (inflight < this.#limit / 2) return;
    const gradient = clamp(0.5, 1, (this.#tolerance * this.#longRtt) / rtt);
    const estimate = this.#limit * gradient + this.#queueSize;
    this.#limit = clamp(this.#min, this.#max, this.#limit * (1 - this.#smoothing) + estimate * this.#smoothing);
  }
}
