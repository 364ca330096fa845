import type { Candidate, Sample } from '../../core/strategy.js';

/**
 * Shared plumbing for the built-in strategies: weight sanitising, random
 * indices, finding a backend among candidates without a per-pick Set, and
 * per-backend state that survives `update`. Internal: not re-exported.
 */

/**
 * The weight used for a backend whose weight is 0, negative or not finite.
 * Weights are validated positive elsewhere; this keeps a strategy sane if it
 * sees bad ones anyway. Small enough that such a backend gets (practically)
 * nothing next to a real weight, and when every weight is bad they are all
 * equal, so traffic is shared evenly.
 */
export const MIN_WEIGHT = 1e-9;

/** A usable weight: `w` when it is finite and > {@link MIN_WEIGHT}, else {@link MIN_WEIGHT}. */
export function weightOf(w: number): number {
  return w > MIN_WEIGHT && w < Number.POSITIVE_INFINITY ? w : MIN_WEIGHT;
}

/** `true` when `w` is a real positive weight (finite, > 0). */
export function isPositiveWeight(w: number): boolean {
  return w > 0 && w < Number.POSITIVE_INFINITY;
}

/** A uniform index in `[0, n)`; guards against sources that return 1, a negative or NaN. */
export function randomIndex(random: () => number, n: number): number {
  const i = Math.floor(random() * n);
  if (i >= 0 && i < n) return i;
  return i >= n ? n - 1 : 0;
}

/**
 * Returns the element of `candidates` that is `backend` (by identity, else by
 * id), or `undefined` when it is not a candidate.
 *
 * The pool hands strategies a filtered subsequence of the list given to
 * `update`, so a backend at `position` in that list (of length `total`) sits
 * within `[position - (total - k), position]` of the candidates: with nothing
 * filtered this is one comparison, with a few backends filtered a few. Only
 * when the backend is absent, or the order differs, is the whole list scanned.
 */
export function findCandidate<B extends Candidate>(
  candidates: readonly B[],
  backend: Candidate,
  position: number,
  total: number,
): B | undefined {
  const k = candidates.length;
  const hi = position < k ? position : k - 1;
  const lo = Math.max(0, position - (total - k));
  for (let i = hi; i >= lo; i--) {
    const c = candidates[i]!;
    if (c === backend) return c;
  }
  const id = backend.id;
  for (let i = 0; i < k; i++) {
    const c = candidates[i]!;
    if (c === backend || c.id === id) return c;
  }
  return undefined;
}

/**
 * Per-backend state kept by id across `update` calls (so a weight change does
 * not reset, say, smooth WRR's `current`), looked up per pick without hashing
 * in the common case: candidates come in `update` order, so the caller passes
 * the index it expects and only a mismatch costs a map lookup.
 */
export class BackendStates<S> {
  readonly #create: (backend: Candidate) => S;
  #order: Candidate[] = [];
  #states: S[] = [];
  #index = new Map<string, number>();

  constructor(create: (backend: Candidate) => S) {
    this.#create = create;
  }

  /** States by index; valid until the next {@link update}. */
  get states(): readonly S[] {
    return this.#states;
  }

  /** Number of backends known. */
  get size(): number {
    return this.#order.length;
  }

  /** Adopts `backends` in order, keeping the state of those already known (by id) and dropping the rest. */
  update(backends: readonly Candidate[]): void {
    const order: Candidate[] = [];
    const states: S[] = [];
    const index = new Map<string, number>();
    for (const backend of backends) {
      if (index.has(backend.id)) continue;
      const old = this.#index.get(backend.id);
      index.set(backend.id, order.length);
      order.push(backend);
      states.push(old === undefined ? this.#create(backend) : this.#states[old]!);
    }
    this.#order = order;
    this.#states = states;
    this.#index = index;
  }

  /**
   * Index of `backend`'s state, trying `hint` first. A backend never passed to
   * `update` gets fresh state, so strategies work even if `update` is never
   * called.
   */
  indexOf(backend: Candidate, hint: number): number {
    if (this.#order[hint] === backend) return hint;
    let i = this.#index.get(backend.id);
    if (i === undefined) {
      i = this.#order.length;
      this.#order.push(backend);
      this.#states.push(this.#create(backend));
      this.#index.set(backend.id, i);
    }
    return i;
  }

  /** Forgets every backend. */
  clear(): void {
    this.#order = [];
    this.#states = [];
    this.#index = new Map();
  }
}

/**
 * Backends (by layout index) already turned down during the current pick,
 * for walks over a ring or table that meet the same owner many times. A new
 * pick clears every mark in O(1) by moving to the next epoch.
 */
export class RejectMarks {
  #marks = new Uint32Array(0);
  #epoch = 0;

  /** Sizes the marks for `n` backends (after a rebuild). */
  reset(n: number): void {
    this.#marks = new Uint32Array(n);
    this.#epoch = 0;
  }

  /** Starts a pick: nothing is marked. */
  begin(): void {
    if (++this.#epoch === 0xffffffff) {
      this.#marks.fill(0);
      this.#epoch = 1;
    }
  }

  mark(i: number): void {
    this.#marks[i] = this.#epoch;
  }

  has(i: number): boolean {
    return this.#marks[i] === this.#epoch;
  }
}

/** A growable list of indices, reused across picks so collecting ties allocates nothing. */
export class IndexBuffer {
  #items = new Int32Array(16);
  length = 0;

  push(i: number): void {
    if (this.length === this.#items.length) {
      const grown = new Int32Array(this.#items.length * 2);
      grown.set(this.#items);
      this.#items = grown;
    }
    this.#items[this.length++] = i;
  }

  at(i: number): number {
    return this.#items[i]!;
  }
}

/**
 * Breaks a tie among `candidates[ties[0..]]` in proportion to their effective
 * weights (`tiedWeight` is their sum), so no backend wins every tie.
 */
export function pickTie<B extends Candidate>(
  candidates: readonly B[],
  ties: IndexBuffer,
  tiedWeight: number,
  random: () => number,
): B | undefined {
  if (ties.length < 2) return ties.length === 1 ? candidates[ties.at(0)] : undefined;
  let target = random() * tiedWeight;
  for (let t = 0; t < ties.length; t++) {
    const c = candidates[ties.at(t)]!;
    target -= weightOf(c.effectiveWeight);
    if (target < 0) return c;
  }
  return candidates[ties.at(ties.length - 1)];
}

/** The latency a sample counts for: NaN and negatives as 0, a failure at least `failurePenalty`. */
export function sampleRtt(sample: Sample, failurePenalty: number): number {
  // biome-ignore lint/complexity/useMathMinMax: Math.max(NaN, 0) is NaN; a NaN sample must count as 0
  const rtt = sample.latencyMs >= 0 ? sample.latencyMs : 0;
  return !sample.ok && rtt < failurePenalty ? failurePenalty : rtt;
}

/** `backends` without repeated ids (the first of each kept). */
export function uniqueById<B extends Candidate>(backends: readonly B[]): B[] {
  const seen = new Set<string>();
  const out: B[] = [];
  for (const b of backends) {
    if (seen.has(b.id)) continue;
    seen.add(b.id);
    out.push(b);
  }
  return out;
}

/** Whether `list` has exactly these ids and configured weights, in this order. */
export function sameLayout(list: readonly Candidate[], ids: readonly string[], weights: readonly number[]): boolean {
  if (list.length !== ids.length) return false;
  for (let i = 0; i < list.length; i++) {
    if (list[i]!.id !== ids[i] || list[i]!.weight !== weights[i]) return false;
  }
  return true;
}

/** Code-unit order of ids, the same on every machine (unlike `localeCompare`). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Configured weights for hash layouts: bad weights (0, negative, not finite)
 * get no share, unless every weight is bad, in which case all count as 1.
 */
export function layoutWeights(list: readonly Candidate[]): number[] {
  const anyValid = list.some((b) => isPositiveWeight(b.weight));
  return list.map((b) => (anyValid ? (isPositiveWeight(b.weight) ? b.weight : 0) : 1));
}
