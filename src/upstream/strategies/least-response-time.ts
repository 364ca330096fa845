import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import type { Candidate, Sample, SelectionContext, Strategy } from '../../core/strategy.js';
import { duration, parseOptions } from '../../core/zod.js';
import { BackendStates, IndexBuffer, pickTie, sampleRtt, weightOf } from './candidates.js';

/**
 * Options of the `least-response-time` strategy.
 *
 * @example
 * ```ts
 * import { leastResponseTimeOptionsSchema } from './least-response-time.js';
 * leastResponseTimeOptionsSchema.parse({ decay: '30s' }); // { decay: 30000, failurePenalty: 5000 }
 * ```
 */
export const leastResponseTimeOptionsSchema = z.strictObject({
  /**
   * Time constant τ of the response-time average: a sample `Δt` after the
   * previous one keeps `exp(-Δt/τ)` of the old average, so the average spans
   * roughly the last τ of traffic whatever the request rate. Milliseconds or
   * a duration string, > 0.
   * @default '10s'
   */
  decay: duration()
    .refine((ms) => ms > 0, { error: 'a duration > 0' })
    .default(10_000)
    .meta({ description: 'Time constant of the response-time EWMA (ms or duration string, > 0). Default 10s.' }),
  /**
   * Latency charged for a failed exchange when it is higher than the measured
   * one, so a backend that fails fast does not look fast. Milliseconds or a
   * duration string, >= 0.
   * @default '5s'
   */
  failurePenalty: duration()
    .default(5_000)
    .meta({ description: 'Latency charged for a failed exchange (ms or duration string). Default 5s.' }),
});

/**
 * Options of the `least-response-time` strategy, as written by users.
 *
 * @example
 * ```ts
 * import { type LeastResponseTimeOptions } from './least-response-time.js';
 * const options: LeastResponseTimeOptions = { decay: '30s', failurePenalty: '1s' };
 * ```
 */
export interface LeastResponseTimeOptions {
  /**
   * Source of uniform numbers in `[0, 1)`, for reproducible tests. Not taken
   * by `strategy: { name, ... }`, which uses the balancer's `random`. @default Math.random
   */
  readonly random?: (() => number) | undefined;
  /**
   * Time constant τ of the response-time average: a sample `Δt` after the
   * previous one keeps `exp(-Δt/τ)` of the old average. Milliseconds or a
   * duration string, > 0. @default '10s'
   */
  decay?: Duration | undefined;
  /**
   * Latency charged for a failed exchange when it is higher than the measured
   * one. Milliseconds or a duration string, >= 0. @default '5s'
   */
  failurePenalty?: Duration | undefined;
}

interface Ewma {
  /** Average response time, ms. */
  value: number;
  /** Balancer time of the last sample, ms. */
  stamp: number;
  seen: boolean;
}

/**
 * Least response time: the candidate with the lowest
 * `EWMA(response time) × (active + 1) / effectiveWeight`. The average says
 * how fast a backend is; the in-flight factor reacts to a queue building up
 * before slow responses come back, and stops every request of a burst going
 * to the same fastest backend.
 *
 * A backend with no samples yet is assumed to be as fast as the average of
 * those with samples (or, when none have any, the score is `active + 1`:
 * least connections), so a new backend is neither flooded nor starved.
 * Failures count as at least `failurePenalty` of latency. Ties (common when
 * idle) are broken by a weighted random draw.
 *
 * O(candidates) per pick, inherent to "least". At thousands of backends
 * prefer `p2c`, which is O(1). No allocation per pick.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * createLoadBalancer({ backends, strategy: { name: 'least-response-time', decay: '30s' } });
 * ```
 */
export function leastResponseTime<B extends Candidate = Candidate>(
  options: LeastResponseTimeOptions = {},
): Strategy<B> {
  const { random, ...rest } = options;
  const config = parseOptions(leastResponseTimeOptionsSchema, rest, 'strategy');
  return new LeastResponseTime<B>(config.decay, config.failurePenalty, random ?? Math.random);
}

class LeastResponseTime<B extends Candidate> implements Strategy<B> {
  readonly name = 'least-response-time';
  readonly #table = new BackendStates<Ewma>(() => ({ value: 0, stamp: 0, seen: false }));
  readonly #tau: number;
  readonly #failurePenalty: number;
  readonly #random: () => number;
  readonly #ties = new IndexBuffer();
  /** Sum and count of `value` over backends with samples, for the no-history guess. */
  #sum = 0;
  #known = 0;

  constructor(tau: number, failurePenalty: number, random: () => number) {
    this.#tau = tau;
    this.#failurePenalty = failurePenalty;
    this.#random = random;
  }

  update(backends: readonly B[]): void {
    this.#table.update(backends);
    this.#sum = 0;
    this.#known = 0;
    for (const state of this.#table.states) {
      if (state.seen) {
        this.#sum += state.value;
        this.#known++;
      }
    }
  }

  pick(candidates: readonly B[], _ctx: SelectionContext): B | undefined {
    const k = candidates.length;
    const table = this.#table;
    const states = table.states;
    const guess = this.#known > 0 ? this.#sum / this.#known : 1;
    const ties = this.#ties;
    ties.length = 0;
    let best = Number.POSITIVE_INFINITY;
    let tiedWeight = 0;
    let hint = 0;
    for (let i = 0; i < k; i++) {
      const c = candidates[i]!;
      const idx = table.indexOf(c, hint);
      hint = idx + 1;
      const state = states[idx]!;
      const w = weightOf(c.effectiveWeight);
      const score = ((state.seen ? state.value : guess) * (Math.max(c.active, 0) + 1)) / w;
      if (score < best || ties.length === 0) {
        best = score;
        ties.length = 0;
        ties.push(i);
        tiedWeight = w;
      } else if (score === best) {
        ties.push(i);
        tiedWeight += w;
      }
    }
    return pickTie(candidates, ties, tiedWeight, this.#random);
  }

  observe(backend: B, sample: Sample): void {
    const state = this.#table.states[this.#table.indexOf(backend, 0)]!;
    const rtt = sampleRtt(sample, this.#failurePenalty);
    if (!state.seen) {
      state.seen = true;
      state.value = rtt;
      state.stamp = sample.now;
      this.#sum += rtt;
      this.#known++;
      return;
    }
    const elapsed = sample.now - state.stamp;
    // Samples in the same clock tick count as 1 ms apart: with a millisecond
    // clock and thousands of requests a second, most would otherwise weigh nothing.
    const w = Math.exp(-(elapsed > 0 ? elapsed : 1) / this.#tau);
    const next = state.value * w + rtt * (1 - w);
    this.#sum += next - state.value;
    state.value = next;
    if (elapsed > 0) state.stamp = sample.now;
  }

  close(): void {
    this.#table.clear();
    this.#sum = 0;
    this.#known = 0;
  }
}
