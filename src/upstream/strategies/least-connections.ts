import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { IndexBuffer, pickTie, weightOf } from './candidates.js';
import type { RandomSource } from './random.js';

/**
 * Least connections: the candidate with the fewest requests in flight per
 * unit of weight (`active / effectiveWeight`, as NGINX `least_conn`).
 *
 * Ties are broken by a weighted random draw among the tied (probability
 * proportional to weight), never "first wins": otherwise, at low concurrency
 * when everyone is at 0, the first backend would get nearly every request,
 * and weights would mean nothing until queues formed.
 *
 * O(candidates) per pick: finding the minimum means looking at everyone. At
 * thousands of backends prefer `p2c`, which is O(1) and nearly as good
 * (Mitzenmacher). One random draw per pick, no allocation.
 *
 * @example
 * ```ts
 * import { seededRandom } from './random.js';
 * import { createLoadBalancer } from 'switchyard-lb';
 * import { leastConnections } from './least-connections.js';
 * createLoadBalancer({ backends, strategy: 'least-connections' });
 * const strategy = leastConnections({ random: seededRandom(1) });
 * ```
 */
export function leastConnections<B extends Candidate = Candidate>(options: RandomSource = {}): Strategy<B> {
  return new LeastConnections<B>(options.random ?? Math.random);
}

class LeastConnections<B extends Candidate> implements Strategy<B> {
  readonly name = 'least-connections';
  readonly #random: () => number;
  readonly #ties = new IndexBuffer();

  constructor(random: () => number) {
    this.#random = random;
  }

  pick(candidates: readonly B[], _ctx: SelectionContext): B | undefined {
    const k = candidates.length;
    const ties = this.#ties;
    ties.length = 0;
    let bestActive = 0;
    let bestWeight = 1;
    let tiedWeight = 0;
    for (let i = 0; i < k; i++) {
      const c = candidates[i]!;
      const active = c.active;
      const w = weightOf(c.effectiveWeight);
      // active / w < bestActive / bestWeight, without division (weights are > 0).
      const lhs = active * bestWeight;
      const rhs = bestActive * w;
      if (i === 0 || lhs < rhs) {
        bestActive = active;
        bestWeight = w;
        ties.length = 0;
        ties.push(i);
        tiedWeight = w;
      } else if (lhs === rhs) {
        ties.push(i);
        tiedWeight += w;
      }
    }
    return pickTie(candidates, ties, tiedWeight, this.#random);
  }
}
