import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';

/**
 * Round robin: each pick takes the next candidate in turn, ignoring weights
 * and load. O(1) per pick, no allocation. Use it when backends are identical
 * and requests cost about the same; otherwise prefer `p2c`.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * import { roundRobin } from './round-robin.js';
 * createLoadBalancer({ backends, strategy: 'round-robin' });
 * // or directly:
 * const strategy = roundRobin();
 * ```
 */
export function roundRobin<B extends Candidate = Candidate>(): Strategy<B> {
  return new RoundRobin<B>();
}

class RoundRobin<B extends Candidate> implements Strategy<B> {
  readonly name = 'round-robin';
  #next = 0;

  pick(candidates: readonly B[], _ctx: SelectionContext): B | undefined {
    const i = this.#next % candidates.length;
    this.#next = (this.#next + 1) >>> 0;
    return candidates[i];
  }
}
