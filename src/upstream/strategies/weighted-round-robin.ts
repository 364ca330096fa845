import type { Candidate, SelectionContext, Strategy } from '../../core/strategy.js';
import { BackendStates, weightOf } from './candidates.js';

/**
 * Credits closer than this (in picks) are a tie, won by the earlier candidate
 * as NGINX's exact integer ties are; far above floating-point error, far
 * below any real difference that matters.
 */
const TIE = 1e-9;

interface WrrState {
  /** NGINX's `current` divided by the total weight: credit measured in picks. */
  credit: number;
}

/**
 * Smooth weighted round robin, as NGINX's `ngx_http_upstream_round_robin.c`:
 * on each pick every candidate adds its `effectiveWeight` to its `current`,
 * the highest `current` wins and gives back the total. Weights {5, 1, 1} give
 * `a a b a c a a`: the heavy backend's turns are spread out, not bunched.
 *
 * Weights are read live, so slow-start ramps take effect at once. `current`
 * is kept per backend id across `update`, so changing weights at run time
 * does not restart the cycle. It is stored divided by the total weight, i.e.
 * as credit counted in picks: with a constant total this picks exactly as
 * NGINX does (ties go to the earlier candidate), and when weights (or the candidate set) change, credit earned
 * under the old weights is worth the same number of picks under the new ones.
 * (Kept in raw weight units, a backend that had piled up credit under a large
 * total would take a burst of consecutive picks after the total shrank.) So
 * every backend stays within about one pick of its ideal share at all times,
 * across any number of weight changes. Candidates left out of a pick
 * (ineligible, or tried by a retry) neither earn nor lose credit.
 *
 * O(candidates) per pick, inherent to the algorithm: every candidate's credit
 * moves on every pick. No allocation.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * createLoadBalancer({ backends: [{ url: 'http://10.0.0.1:8080', weight: 5 }, { url: 'http://10.0.0.2:8080' }], strategy: 'weighted-round-robin' });
 * ```
 */
export function weightedRoundRobin<B extends Candidate = Candidate>(): Strategy<B> {
  return new SmoothWeightedRoundRobin<B>();
}

class SmoothWeightedRoundRobin<B extends Candidate> implements Strategy<B> {
  readonly name = 'weighted-round-robin';
  readonly #table = new BackendStates<WrrState>(() => ({ credit: 0 }));
  // Weights read in the first pass, so each getter runs once per pick.
  #weights = new Float64Array(16);

  update(backends: readonly B[]): void {
    this.#table.update(backends);
  }

  pick(candidates: readonly B[], _ctx: SelectionContext): B | undefined {
    const k = candidates.length;
    if (this.#weights.length < k) this.#weights = new Float64Array(Math.max(k, this.#weights.length * 2));
    const weights = this.#weights;
    let total = 0;
    for (let i = 0; i < k; i++) {
      const w = weightOf(candidates[i]!.effectiveWeight);
      weights[i] = w;
      total += w;
    }
    const table = this.#table;
    const states = table.states;
    let best = 0;
    let bestState: WrrState | undefined;
    let hint = 0;
    for (let i = 0; i < k; i++) {
      const idx = table.indexOf(candidates[i]!, hint);
      hint = idx + 1;
      const state = states[idx]!;
      state.credit += weights[i]! / total;
      if (bestState === undefined || state.credit > bestState.credit + TIE) {
        bestState = state;
        best = i;
      }
    }
    if (bestState !== undefined) bestState.credit -= 1;
    return candidates[best];
  }

  close(): void {
    this.#table.clear();
  }
}
