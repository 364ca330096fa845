import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import type { Candidate, Sample, SelectionContext, Strategy } from '../../core/strategy.js';
import { duration, parseOptions } from '../../core/zod.js';
import { BackendStates, randomIndex, sampleRtt, weightOf } from './candidates.js';

/**
 * Options of the `p2c` strategy.
 *
 * @example
 * ```ts
 * import { p2cOptionsSchema } from './p2c.js';
 * p2cOptionsSchema.parse({ decay: '5s' }); // { decay: 5000, failurePenalty: 5000 }
 * ```
 */
export const p2cOptionsSchema = z.strictObject({
  /**
   * Decay time constant τ of the peak-EWMA cost: a sample `Δt` after the
   * previous update keeps `exp(-Δt/τ)` of the old cost. Longer remembers
   * slowness longer; shorter reacts faster and forgets faster. Milliseconds
   * or a duration string, > 0.
   * @default '10s' (Finagle and Linkerd)
   */
  decay: duration()
    .refine((ms) => ms > 0, { error: 'a duration > 0' })
    .default(10_000)
    .meta({ description: 'Decay time constant of the peak-EWMA cost (ms or duration string, > 0). Default 10s.' }),
  /**
   * Latency charged for a failed exchange (connect failure, reset, timeout,
   * 5xx) when it is higher than the measured one, so a backend that fails
   * fast does not look fast. Peak EWMA takes it at once and lets it decay
   * with `decay`. Milliseconds or a duration string, >= 0; 0 counts failures
   * at their measured latency.
   * @default '5s'
   */
  failurePenalty: duration()
    .default(5_000)
    .meta({ description: 'Latency charged for a failed exchange (ms or duration string). Default 5s.' }),
});

/**
 * Options of the `p2c` strategy, as written by users.
 *
 * @example
 * ```ts
 * import { seededRandom } from './random.js';
 * import { type P2cOptions } from './p2c.js';
 * const options: P2cOptions = { decay: '5s', random: seededRandom(1) };
 * ```
 */
export interface P2cOptions {
  /**
   * Source of uniform numbers in `[0, 1)`, for reproducible tests. Not taken
   * by `strategy: { name, ... }`, which uses the balancer's `random`. @default Math.random
   */
  readonly random?: (() => number) | undefined;
  /**
   * Decay time constant τ of the peak-EWMA cost: a sample `Δt` after the
   * previous update keeps `exp(-Δt/τ)` of the old cost. Milliseconds or a
   * duration string, > 0. @default '10s'
   */
  decay?: Duration | undefined;
  /**
   * Latency charged for a failed exchange (connect failure, reset, timeout,
   * 5xx) when it is higher than the measured one, so a backend that fails
   * fast does not look fast. Milliseconds or a duration string, >= 0. @default '5s'
   */
  failurePenalty?: Duration | undefined;
}

/**
 * Cost charged to a backend that has requests in flight but no latency
 * history yet (Finagle's `Penalty`): it gets one probe at a time until its
 * first response says how fast it is, instead of a herd of requests sent on
 * a guess. Plus `active`, so fewer pending still wins among unknowns.
 */
const UNSEEN_PENALTY = 2 ** 50;

interface PeakEwma {
  /** Peak-EWMA latency, ms. */
  cost: number;
  /** Balancer time of the last update, ms. */
  stamp: number;
  /** A sample has been observed. */
  seen: boolean;
}

/**
 * Power of two choices over peak-EWMA latency: the balancer's DEFAULT
 * strategy.
 *
 * Each pick draws two distinct candidates at random and takes the one with
 * the lower load, `cost × (active + 1) / effectiveWeight`, where `cost` is a
 * peak-sensitive exponentially weighted moving average of response time
 * (Finagle `PeakEwma`, Linkerd): `w = exp(-Δt/τ)`; a sample above the cost
 * replaces it at once (`cost = rtt`), one below it blends in
 * (`cost = cost·w + rtt·(1-w)`); reading the cost decays it toward 0, so a
 * backend that went slow and stopped being picked is tried again later. A
 * backend with no history and nothing in flight costs 0 (try it); with no
 * history but requests in flight, a large penalty (wait for its first
 * answer). Failures count as at least `failurePenalty` of latency.
 *
 * Why it is the default:
 * - Two random choices instead of one cut the maximum load from
 *   Θ(ln n / ln ln n) to ln ln n / ln 2 + O(1) (Azar, Broder, Karlin, Upfal;
 *   Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing"):
 *   almost all the benefit of least-loaded for a fraction of the cost.
 * - O(1) per pick whatever the number of backends: two random draws, two
 *   state lookups, no scan, no allocation.
 * - No herd: pure least-loaded sends every balancer instance (and every
 *   request in a burst) to the same momentarily best backend, which then
 *   overloads; the random pair spreads them, and the worst backend is never
 *   chosen at all.
 * - Latency-aware: in-flight counts alone miss a backend that is slow but not
 *   yet queued; peak EWMA notices the first slow response, while the
 *   `(active + 1)` factor still reacts to queues before responses come back.
 *
 * @example
 * ```ts
 * import { seededRandom } from './random.js';
 * import { createLoadBalancer } from 'switchyard-lb';
 * import { p2c } from './p2c.js';
 * createLoadBalancer({ backends }); // p2c is the default
 * createLoadBalancer({ backends, strategy: { name: 'p2c', decay: '5s', failurePenalty: '2s' } });
 * const strategy = p2c({ random: seededRandom(1) });
 * ```
 */
export function p2c<B extends Candidate = Candidate>(options: P2cOptions = {}): Strategy<B> {
  const { random, ...rest } = options;
  const config = parseOptions(p2cOptionsSchema, rest, 'strategy');
  return new PeakEwmaP2C<B>(config.decay, config.failurePenalty, random ?? Math.random);
}

class PeakEwmaP2C<B extends Candidate> implements Strategy<B> {
  readonly name = 'p2c';
  readonly #table = new BackendStates<PeakEwma>(() => ({ cost: 0, stamp: 0, seen: false }));
  readonly #tau: number;
  readonly #failurePenalty: number;
  readonly #random: () => number;

  constructor(tau: number, failurePenalty: number, random: () => number) {
    this.#tau = tau;
    this.#failurePenalty = failurePenalty;
    this.#random = random;
  }

  update(backends: readonly B[]): void {
    this.#table.update(backends);
  }

  pick(candidates: readonly B[], ctx: SelectionContext): B | undefined {
    const k = candidates.length;
    if (k < 2) return candidates[0];
    const i = randomIndex(this.#random, k);
    let j = randomIndex(this.#random, k - 1);
    if (j >= i) j++;
    const a = candidates[i]!;
    const b = candidates[j]!;
    // Equal loads keep the first draw, itself uniformly random.
    return this.#load(b, j, ctx.now) < this.#load(a, i, ctx.now) ? b : a;
  }

  observe(backend: B, sample: Sample): void {
    const state = this.#table.states[this.#table.indexOf(backend, 0)]!;
    const rtt = sampleRtt(sample, this.#failurePenalty);
    if (!state.seen) {
      state.seen = true;
      state.cost = rtt;
      state.stamp = sample.now;
      return;
    }
    this.#blend(state, sample.now, rtt);
  }

  close(): void {
    this.#table.clear();
  }

  #load(c: B, hint: number, now: number): number {
    const state = this.#table.states[this.#table.indexOf(c, hint)]!;
    const active = Math.max(c.active, 0);
    if (!state.seen) return active === 0 ? 0 : (UNSEEN_PENALTY + active) / weightOf(c.effectiveWeight);
    this.#blend(state, now, 0);
    return (state.cost * (active + 1)) / weightOf(c.effectiveWeight);
  }

  #blend(state: PeakEwma, now: number, rtt: number): void {
    const elapsed = now - state.stamp;
    if (rtt > state.cost) {
      state.cost = rtt;
    } else if (elapsed > 0) {
      const w = Math.exp(-elapsed / this.#tau);
      state.cost = state.cost * w + rtt * (1 - w);
    }
    if (elapsed > 0) state.stamp = now;
  }
}
