/** Sub-buckets per power of two: 8 keeps the relative error of a quantile under 4.5 %. */
const SUB_BUCKETS = 8;
/** Smallest value told apart from zero, in ms (1 µs). */
const MIN_MS = 0.001;
/** Powers of two covered above `MIN_MS`: up to 2^31 µs, about 36 minutes. */
const OCTAVES = 31;
const BUCKETS = OCTAVES * SUB_BUCKETS + 1;
const SCALE = SUB_BUCKETS / Math.LN2;

/** Latency quantiles over a window, in milliseconds. */
export interface LatencySummary {
  /** Samples in the window. */
  count: number;
  /** Mean of the samples, ms; 0 when there are none. */
  mean: number;
  /** Median, ms; 0 when there are no samples. */
  p50: number;
  /** 95th percentile, ms. */
  p95: number;
  /** 99th percentile, ms. */
  p99: number;
}

function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const index = 1 + Math.floor(Math.log(ms / MIN_MS) * SCALE);
  return index < BUCKETS ? index : BUCKETS - 1;
}

/** Geometric middle of a bucket: within 4.5 % of any value that fell in it. */
function bucketValue(bucket: number): number {
  if (bucket === 0) return 0;
  return MIN_MS * Math.exp((bucket - 0.5) / SCALE);
}

/**
 * Latency quantiles over a sliding window in bounded memory: an HDR-like
 * histogram with log-spaced buckets (8 per power of two, 1 µs to ~36 min,
 * relative error under 4.5 %), kept per time slot in a ring; a slot older than
 * the window is cleared when its turn comes again. Recording is one log and
 * two array writes; memory is fixed (about 1 KiB per slot) whatever the
 * traffic.
 *
 * @example
 * ```ts
 * import { LatencyWindow } from './latency-window.js';
 * const window = new LatencyWindow({ windowMs: 60_000, slots: 6 });
 * window.record(12.5, performance.now());
 * window.summary(performance.now()).p99;
 * ```
 */
export class LatencyWindow {
  readonly #slotMs: number;
  readonly #slots: number;
  readonly #counts: Uint32Array;
  readonly #sums: Float64Array;
  readonly #totals: Uint32Array;
  /** Which time slot each ring entry holds, so a stale one is cleared on reuse. */
  readonly #epochs: Float64Array;

  constructor(options: { windowMs: number; slots: number }) {
    this.#slots = options.slots;
    this.#slotMs = options.windowMs / options.slots;
    this.#counts = new Uint32Array(BUCKETS * options.slots);
    this.#sums = new Float64Array(options.slots);
    this.#totals = new Uint32Array(options.slots);
    this.#epochs = new Float64Array(options.slots).fill(Number.NaN);
  }

  /** Adds one sample of `ms` milliseconds taken at `now` (balancer clock). */
  record(ms: number, now: number): void {
    const epoch = Math.floor(now / this.#slotMs);
    const slot = ((epoch % this.#slots) + this.#slots) % this.#slots;
    if (this.#epochs[slot] !== epoch) {
      this.#counts.fill(0, slot * BUCKETS, (slot + 1) * BUCKETS);
      this.#sums[slot] = 0;
      this.#totals[slot] = 0;
      this.#epochs[slot] = epoch;
    }
    (this.#counts[slot * BUCKETS + bucketOf(ms)] as number)++;
    (this.#totals[slot] as number)++;
    (this.#sums[slot] as number) += ms;
  }

  /** Count, mean and p50/p95/p99 of the samples of the last window before `now`. */
  summary(now: number): LatencySummary {
    const current = Math.floor(now / this.#slotMs);
    const live: number[] = [];
    let count = 0;
    let sum = 0;
    for (let slot = 0; slot < this.#slots; slot++) {
      const epoch = this.#epochs[slot] as number;
      if (epoch <= current && epoch > current - this.#slots) {
        live.push(slot);
        count += this.#totals[slot] as number;
        sum += this.#sums[slot] as number;
      }
    }
    if (count === 0) return { count: 0, mean: 0, p50: 0, p95: 0, p99: 0 };
    const merged = new Float64Array(BUCKETS);
    for (const slot of live) {
      const base = slot * BUCKETS;
      for (let b = 0; b < BUCKETS; b++) (merged[b] as number) += this.#counts[base + b] as number;
    }
    const [p50, p95, p99] = quantiles(merged, count, [0.5, 0.95, 0.99]);
    return { count, mean: sum / count, p50: p50 as number, p95: p95 as number, p99: p99 as number };
  }
}

/** Nearest-rank quantiles of a bucketed distribution, `qs` ascending. */
function quantiles(buckets: Float64Array, count: number, qs: number[]): number[] {
  const out: number[] = [];
  let seen = 0;
  let q = 0;
  for (let b = 0; b < buckets.length && q < qs.length; b++) {
    seen += buckets[b] as number;
    while (q < qs.length && seen >= Math.ceil((qs[q] as number) * count)) {
      out.push(bucketValue(b));
      q++;
    }
  }
  while (out.length < qs.length) out.push(bucketValue(buckets.length - 1));
  return out;
}
