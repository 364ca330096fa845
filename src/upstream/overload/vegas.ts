import { type ConcurrencyLimiter, clamp } from './limiter.js';

/** Options of {@link VegasLimiter}; see `adaptiveConcurrency` for defaults. */
export interface VegasOptions {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  /** @default 1 */
  smoothing?: number;
  /** @default 30 */
  probeMultiplier?: number;
  /** Random source in [0, 1) for the probe jitter. @default Math.random */
  random?: () => number;
}

/** log10 of the limit, floored and at least 1, so small limits still move. */
function log10(limit: number): number {
  return Math.max(1, Math.floor(Math.log10(limit)));
}

/**
 * TCP Vegas as in Netflix concurrency-limits: estimates the queue at the
 * backend as `limit · (1 - noLoadRtt / rtt)` and grows the limit by `6·log`
 * while that queue is at most `log`, by `log` while under `3·log`, shrinks it
 * by `log` above `6·log` or on a timeout, and leaves it in between
 * (`log` = log10 of the limit). The no-load RTT is the smallest RTT seen,
 * re-probed every `probeMultiplier · limit` samples (jittered) so it can rise
 * when the backend's baseline does.
 *
 * @example
 * ```ts
 * import { VegasLimiter } from 'switchyard-lb';
 * const limiter = new VegasLimiter({ initialLimit: 20, minLimit: 1, maxLimit: 1000 });
 * limiter.update(10, 20, false); // first sample: sets the no-load RTT
 * limiter.update(10, 20, false); // no queue: 20 + 6
 * ```
 */
export class VegasLimiter implements ConcurrencyLimiter {
  #limit: number;
  #noLoadRtt = 0;
  #probeCount = 0;
  #probeJitter: number;
  readonly #min: number;
  readonly #max: number;
  readonly #smoothing: number;
  readonly #probeMultiplier: number;
  readonly #random: () => number;

  constructor(options: VegasOptions) {
    this.#limit = options.initialLimit;
    this.#min = options.minLimit;
    this.#max = options.maxLimit;
    this.#smoothing = options.smoothing ?? 1;
    this.#probeMultiplier = options.probeMultiplier ?? 30;
    this.#random = options.random ?? Math.random;
    this.#probeJitter = this.#jitter();
  }

  get limit(): number {
    return this.#limit;
  }

  /** The RTT taken as "no queue at the backend", in ms (0 before the first sample). */
  get noLoadRtt(): number {
    return this.#noLoadRtt;
  }

  #jitter(): number {
    return 0.5 + this.#random() * 0.5;
  }

  update(rttMs: number, inflight: number, dropped: boolean): void {
    const rtt = Math.max(rttMs, 0.001);
    this.#probeCount++;
    if (this.#probeJitter * this.#probeMultiplier * this.#limit <= this.#probeCount) {
      this.#probeJitter = this.#jitter();
      this.#probeCount = 0;
      this.#noLoadRtt = rtt;
      return;
    }
    if (this.#noLoadRtt === 0 || rtt < this.#noLoadRtt) {
      this.#noLoadRtt = rtt;
      return;
    }
    const limit = this.#limit;
    const log = log10(limit);
    let next: number;
    if (dropped) next = limit - log;
    else if (inflight * 2 < limit) return;
    else {
      const queue = Math.ceil(limit * (1 - this.#noLoadRtt / rtt));
      if (queue <= log) next = limit + 6 * log;
      else if (queue < 3 * log) next = limit + log;
      else if (queue > 6 * log) next = limit - log;
      else return;
    }
    next = clamp(this.#min, this.#max, next);
    this.#limit = (1 - this.#smoothing) * limit + this.#smoothing * next;
  }
}
