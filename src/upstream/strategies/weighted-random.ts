import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { weightOf } from './candidates.js';
import type { RandomSource } from './random.js';

/**
 * Random choice with probability proportional to `effectiveWeight`.
 *
 * Weights are read live on every pick, so slow-start ramps (which change
 * `effectiveWeight` without an `update`) are honoured; the price is
 * O(candidates) per pick (one pass to sum, one to find), with a single
 * random draw and no allocation. A cached alias table would be O(1) but
 * stale during ramps.
 *
 * @example
 * ```ts
 * import { seededRandom } from './random.js';
 * import { createLoadBalancer } from 'switchyard-lb';
 * import { weightedRandom } from './weighted-random.js';
 * createLoadBalancer({ backends, strategy: 'weighted-random' });
 * const strategy = weightedRandom({ random: seededRandom(7) });
 * ```
 */
export function weightedRandom<B extends Candidate = Candidate>(options: RandomSource = {}): Strategy<B> {
  return new WeightedRandom<B>(options.random ?? Math.random);
}

class WeightedRandom<B extends Candidate> implements Strategy<B> {
  readonly name = 'weighted-random';
  readonly #random: () => number;

  constructor(source: () => number) {
    this.#random = source;
  }

  pick(candidates: readonly B[], _ctx: SelectionContext): B | undefined {
    const k = candidates.length;
    let total = 0;
    for (let i = 0; i < k; i++) total += weightOf(candidates[i]!.effectiveWeight);
    let target = this.#random() * total;
    for (let i = 0; i < k; i++) {
      const c = candidates[i]!;
      target -= weightOf(c.effectiveWeight);
      if (target < 0) return c;
    }
    // Rounding (or a source returning 1): the last candidate with any weight.
    return candidates[k - 1];
  }
}
