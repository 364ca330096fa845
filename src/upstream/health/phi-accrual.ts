/**
 * Decides from the arrival times of heartbeats (here: passing health checks)
 * whether a backend should be suspected. A small interface, so that users can
 * bring their own detector (`healthCheck.detector`).
 *
 * @example
 * ```ts
 * import { type FailureDetector } from 'switchyard-lb';
 * const never: FailureDetector = { heartbeat() {}, suspicion: () => 0, isAvailable: () => true, reset() {} };
 * ```
 */
export interface FailureDetector {
  /** A heartbeat arrived at `now` (ms, the balancer's clock). */
  heartbeat(now: number): void;
  /** How suspicious the silence since the last heartbeat is at `now`; for phi-accrual, φ. 0 before any heartbeat. */
  suspicion(now: number): number;
  /** False when the detector suspects the backend at `now`. */
  isAvailable(now: number): boolean;
  /** Forgets every heartbeat. */
  reset(): void;
}

/** Options of {@link PhiAccrualDetector}; the defaults are Akka's. */
export interface PhiAccrualOptions {
  /** φ above which the backend is suspected. 8 means a 1e-8 chance that the heartbeat is merely late. @default 8 */
  threshold?: number;
  /** Most inter-arrival times kept (a ring). @default 1000 */
  maxSampleSize?: number;
  /** Floor of the standard deviation, ms: keeps φ sane when heartbeats are very regular. @default 100 */
  minStdDeviation?: number;
  /** Extra silence tolerated on top of the mean interval, ms (a GC pause, a missed check). @default 3000 */
  acceptablePause?: number;
  /** Assumed interval before the second heartbeat, ms; seeds the history as mean ± mean/4. @default 1000 */
  firstHeartbeatEstimate?: number;
}

/**
 * The φ accrual failure detector (Hayashibara et al., 2004), as Akka and
 * Cassandra use it: fits a normal distribution to the recent inter-arrival
 * times of heartbeats and reports `φ = -log10(1 - F(Δt))`, where `Δt` is the
 * silence since the last heartbeat and `F` the fitted CDF. φ = 1 means a 10%
 * chance of a false suspicion, φ = 8 one in 10⁸.
 *
 * `1 - F` is computed in log space from a Chebyshev fit of `erfc` (rather
 * than Akka's logistic approximation, which drifts by a unit of φ five
 * standard deviations out), so φ stays exact and finite far into the tail
 * where `1 - F` itself rounds to 0. The history is a fixed ring of
 * `maxSampleSize` doubles with running sums, so a heartbeat costs O(1).
 *
 * @example
 * ```ts
 * import { PhiAccrualDetector } from 'switchyard-lb';
 * const detector = new PhiAccrualDetector({ threshold: 8, acceptablePause: 0, firstHeartbeatEstimate: 1000 });
 * for (let t = 0; t <= 10_000; t += 1000) detector.heartbeat(t);
 * detector.suspicion(11_000); // ~0.3: on time
 * detector.isAvailable(15_000); // false: four beats missed
 * ```
 */
export class PhiAccrualDetector implements FailureDetector {
  readonly threshold: number;
  readonly #minStd: number;
  readonly #pause: number;
  readonly #firstEstimate: number;
  readonly #ring: Float64Array;
  #count = 0;
  #next = 0;
  #sum = 0;
  #squares = 0;
  #last: number | undefined;

  constructor(options: PhiAccrualOptions = {}) {
    this.threshold = options.threshold ?? 8;
    const size = options.maxSampleSize ?? 1000;
    this.#minStd = options.minStdDeviation ?? 100;
    this.#pause = options.acceptablePause ?? 3000;
    this.#firstEstimate = options.firstHeartbeatEstimate ?? 1000;
    if (!(this.threshold > 0)) throw new RangeError('threshold must be > 0');
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError('maxSampleSize must be an integer >= 1');
    if (!(this.#minStd > 0)) throw new RangeError('minStdDeviation must be > 0');
    if (!(this.#pause >= 0)) throw new RangeError('acceptablePause must be >= 0');
    if (!(this.#firstEstimate > 0)) throw new RangeError('firstHeartbeatEstimate must be > 0');
    this.#ring = new Float64Array(size);
  }

  /** Number of inter-arrival samples held. */
  get samples(): number {
    return this.#count;
  }

  heartbeat(now: number): void {
    const last = this.#last;
    this.#last = now;
    if (last === undefined) {
      if (this.#count === 0) {
        // Akka's bootstrap: two samples at mean ± mean/4 give mean `estimate`, std `estimate/4`.
        const std = this.#firstEstimate / 4;
        this.#add(this.#firstEstimate - std);
        this.#add(this.#firstEstimate + std);
      }
      return;
    }
    const interval = now - last;
    if (interval >= 0) this.#add(interval);
  }

  #add(interval: number): void {
    const ring = this.#ring;
    if (this.#count === ring.length) {
      const old = ring[this.#next]!;
      this.#sum -= old;
      this.#squares -= old * old;
    } else this.#count++;
    ring[this.#next] = interval;
    this.#next = (this.#next + 1) % ring.length;
    this.#sum += interval;
    this.#squares += interval * interval;
  }

  suspicion(now: number): number {
    const last = this.#last;
    if (last === undefined || this.#count === 0) return 0;
    const mean = this.#sum / this.#count;
    const variance = Math.max(0, this.#squares / this.#count - mean * mean);
    const std = Math.max(Math.sqrt(variance), this.#minStd);
    return phi(now - last, mean + this.#pause, std);
  }

  isAvailable(now: number): boolean {
    return this.suspicion(now) < this.threshold;
  }

  reset(): void {
    this.#count = 0;
    this.#next = 0;
    this.#sum = 0;
    this.#squares = 0;
    this.#last = undefined;
  }
}

/**
 * φ for a silence of `elapsed` ms under a normal distribution of
 * inter-arrival times with `mean` and `std`: `-log10(1 - F(elapsed))`.
 *
 * @example
 * ```ts
 * import { phi } from './phi-accrual.js';
 * phi(1000, 1000, 100); // ~0.30: exactly on time
 * phi(2000, 1000, 100); // ~23: ten standard deviations late
 * ```
 */
export function phi(elapsed: number, mean: number, std: number): number {
  const y = (elapsed - mean) / std;
  const x = Math.abs(y) / Math.SQRT2;
  if (y > 0) return -(Math.log(0.5) + logErfc(x)) / Math.LN10;
  return -Math.log1p(-0.5 * Math.exp(logErfc(x))) / Math.LN10;
}

/**
 * ln(erfc(x)) for x >= 0, from the Chebyshev fit in Numerical Recipes
 * (`erfcc`, relative error < 1.2e-7 everywhere). Taking the log of its
 * `t·exp(poly)` form term by term keeps φ finite far into the tail, where
 * erfc itself underflows to 0.
 */
function logErfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return Math.log(t) - x * x + poly;
}
