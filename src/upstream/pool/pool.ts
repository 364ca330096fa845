import { type Backend, type EligibilityChange, writeEligibility } from '../../core/backend.js';
import type { Strategy } from '../../core/strategy.js';

/**
 * The balancer's backends and the set a strategy chooses from. The list of
 * available backends (healthy, not ejected, breaker not open, not draining)
 * is cached and rebuilt only when one of those states changes; per request,
 * only `maxConnections` and the backends a retry already tried are filtered,
 * and only when they apply.
 */
export class Pool {
  readonly #byId = new Map<string, Backend>();
  #strategy: Strategy<Backend>;
  readonly #now: () => number;
  #members: Backend[] = [];
  #available: Backend[] = [];
  #availableAt = -1;
  #nextChange = Number.POSITIVE_INFINITY;
  #dirty = true;
  #anyLimit = false;
  /** Called after every {@link changed}: capacity may have appeared (the wait queue listens). */
  onChanged: (() => void) | undefined;
  #panicThreshold = 0;
  #panic = false;

  constructor(strategy: Strategy<Backend>, now: () => number) {
    this.#strategy = strategy;
    this.#now = now;
  }

  /** Swaps the strategy (`configure({ strategy })`); the new one learns the members at once. */
  set strategy(strategy: Strategy<Backend>) {
    this.#strategy = strategy;
    strategy.update?.(this.#members);
  }

  /** Non-draining backends, the set strategies see (cached; do not mutate). */
  get members(): readonly Backend[] {
    return this.#members;
  }

  /**
   * Envoy's healthy panic threshold, percent (0 turns it off): below this
   * share of available members, {@link candidates} offers every member whose
   * breaker is not open, unhealthy and ejected ones included.
   */
  set panicThreshold(percent: number) {
    this.#panicThreshold = percent;
    this.#dirty = true;
  }

  get panicThreshold(): number {
    return this.#panicThreshold;
  }

  /** True while too few backends are available and load is spread over all of them. */
  get panic(): boolean {
    this.#refresh(this.#now());
    return this.#panic;
  }

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): Backend | undefined {
    return this.#byId.get(id);
  }

  /** Every backend, draining ones included, in insertion order. */
  all(): Backend[] {
    return [...this.#byId.values()];
  }

  /** Adds a backend, with its initial eligibility (a rollout's pending backend starts `unhealthy`). */
  add(backend: Backend, initial?: EligibilityChange): void {
    if (initial) writeEligibility(backend, initial);
    this.#byId.set(backend.id, backend);
    this.changed(true);
  }

  /**
   * Changes a backend's eligibility (health checks, outlier detection,
   * breakers, draining): the one way to write it, so the available list and
   * the strategy's member set are always current.
   */
  mark(backend: Backend, change: EligibilityChange): void {
    writeEligibility(backend, change);
    this.changed(change.draining !== undefined);
  }

  /** Changes a backend's weight or connection limit (`updateBackend`). */
  resize(
    backend: Backend,
    change: { readonly weight?: number | undefined; readonly maxConnections?: number | undefined },
  ): void {
    if (change.weight !== undefined) backend.weight = change.weight;
    if (change.maxConnections !== undefined) backend.maxConnections = change.maxConnections;
    this.changed(true);
  }

  delete(backend: Backend): void {
    if (this.#byId.get(backend.id) === backend) this.#byId.delete(backend.id);
    this.changed(true);
  }

  /**
   * Something the views depend on changed (prefer {@link mark} and
   * {@link resize}, which call this). `membership` is true when the set the strategy
   * hashes over changed too (added, removed, draining, weight).
   */
  changed(membership = false): void {
    this.#dirty = true;
    if (membership) {
      this.#members = [...this.#byId.values()].filter((b) => !b.draining);
      this.#anyLimit = this.#members.some(
        (b) => Number.isFinite(b.maxConnections) || Number.isFinite(b.streamLimit) || b.limiter !== undefined,
      );
      this.#strategy.update?.(this.#members);
    }
    this.onChanged?.();
  }

  #refresh(now: number): Backend[] {
    if (!this.#dirty && now < this.#nextChange) return this.#available;
    const available: Backend[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const backend of this.#members) {
      if (backend.isAvailable(now)) available.push(backend);
      else if (backend.ejectedUntil > now && backend.ejectedUntil < next) next = backend.ejectedUntil;
    }
    const members = this.#members;
    // Panic (Envoy): better to spread load over sick backends than to flatten the few healthy ones.
    this.#panic = available.length * 100 < this.#panicThreshold * members.length;
    this.#available = this.#panic ? members.filter((b) => !b.breakerOpen) : available;
    this.#availableAt = now;
    this.#nextChange = next;
    this.#dirty = false;
    return this.#available;
  }

  /**
   * The backends a request may go to now: available (or, in panic, all but
   * those with an open breaker), under their connection limit, and not in
   * `exclude`. Returns the cached array when nothing needs filtering, so the
   * common path allocates nothing.
   */
  candidates(exclude: ReadonlySet<Backend>, now = this.#now()): readonly Backend[] {
    const available = this.#refresh(now);
    if (exclude.size === 0 && !this.#anyLimit) return available;
    return available.filter((b) => !exclude.has(b) && b.active < b.capacity);
  }

  /**
   * True when some available backend is not in `exclude`: when
   * {@link candidates} is empty nonetheless, they are all at their limit and
   * a request may wait for a slot.
   */
  hasUntried(exclude: ReadonlySet<Backend>, now = this.#now()): boolean {
    const available = this.#refresh(now);
    if (exclude.size === 0) return available.length > 0;
    for (const backend of available) if (!exclude.has(backend)) return true;
    return false;
  }

  /** Time the available list was last rebuilt (for tests and diagnostics). */
  get refreshedAt(): number {
    return this.#availableAt;
  }
}
