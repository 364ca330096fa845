import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { randomIndex } from './candidates.js';

/**
 * Options shared by strategies that draw random numbers.
 *
 * @example
 * ```ts
 * import { seededRandom } from './random.js';
 * import { leastConnections } from './least-connections.js';
 * leastConnections({ random: seededRandom(3) });
 * ```
 */
export interface RandomSource {
  /**
   * Source of uniform numbers in `[0, 1)`. Inject a seeded one (see
   * {@link seededRandom}) for reproducible tests and simulations.
   * @default Math.random
   */
  readonly random?: () => number;
}

/**
 * Uniform random choice among the candidates. O(1) per pick, no state. Over
 * many picks every backend gets the same share, but short-term it is lumpier
 * than round robin; its use is as a baseline and where no shared counter is
 * wanted.
 *
 * @example
 * ```ts
 * import { random, seededRandom } from './random.js';
 * const strategy = random({ random: seededRandom(1) }); // reproducible
 * ```
 */
export function random<B extends Candidate = Candidate>(options: RandomSource = {}): Strategy<B> {
  return new RandomStrategy<B>(options.random ?? Math.random);
}

class RandomStrategy<B extends Candidate> implements Strategy<B> {
  readonly name = 'random';
  readonly #random: () => number;

  constructor(source: () => number) {
    this.#random = source;
  }

  pick(candidates: readonly B[], _ctx: SelectionContext): B | undefined {
    return candidates[randomIndex(this.#random, candidates.length)];
  }
}

/**
 * A small, fast, seeded generator of uniform numbers in `[0, 1)`
 * (Mulberry32: 32 bits of state, passes gjrand/PractRand to 2^32 outputs).
 * Not cryptographic. For injecting into strategies in tests and benchmarks.
 *
 * @example
 * ```ts
 * import { seededRandom } from './random.js';
 * const next = seededRandom(42);
 * next(); // always the same first number for seed 42
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
