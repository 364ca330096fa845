import type { ResolvedRetryBudgetOptions } from './options.js';

/** Fixed-point scale of a deposit, so percentages are whole numbers of units. */
const SCALE = 1000;
/** The ttl window is counted in this many slices; a deposit expires within ttl/SLICES of its due time. */
const SLICES = 10;

/**
 * A retry budget: the token bucket of Finagle's `RetryBudget`, also used by
 * Linkerd. Every request deposits; every retry (or hedge) withdraws
 * `100 / percent` deposits; deposits and withdrawals expire after `ttl`; a
 * reserve of `minRetriesPerSecond · ttl` retries is always there. Over any
 * `ttl` window, retries ≤ `percent`% of requests + the reserve: under a full
 * outage, load on the backends grows by at most that much.
 *
 * Chosen over Envoy's concurrency budget (active retries ≤ 20% of active
 * requests, min 3) because it bounds retries per request over time whatever
 * the latency: a refused connection that fails in microseconds frees an
 * Envoy-style slot at once, so fast failures can still retry in a tight loop,
 * while a token spent here stays spent for `ttl`.
 *
 * @example
 * ```ts
 * import { RetryBudget } from 'switchyard-lb';
 * const budget = new RetryBudget({ percent: 20, minRetriesPerSecond: 10, ttl: 10_000 });
 * budget.deposit(Date.now()); // a request arrived
 * if (budget.tryWithdraw(Date.now())) {
 *   // retry; else: answer with the failure as is
 * }
 * ```
 */
export class RetryBudget {
  readonly #deposit: number;
  readonly #withdrawal: number;
  readonly #reserve: number;
  readonly #sliceMs: number;
  readonly #slices = new Float64Array(SLICES);
  #sum = 0;
  #head = 0;
  #headStart = Number.NEGATIVE_INFINITY;

  constructor(options: ResolvedRetryBudgetOptions) {
    const percent = options.percent;
    this.#deposit = percent === 0 ? 0 : SCALE;
    this.#withdrawal = percent === 0 ? SCALE : Math.round((SCALE * 100) / percent);
    this.#reserve = options.minRetriesPerSecond * (options.ttl / 1000) * this.#withdrawal;
    this.#sliceMs = options.ttl / SLICES;
  }

  /** A request arrived. */
  deposit(now: number): void {
    this.#add(now, this.#deposit);
  }

  /** A retry wants to go: spends its cost and returns true when the budget allows it. */
  tryWithdraw(now: number): boolean {
    this.#advance(now);
    if (this.#sum + this.#reserve < this.#withdrawal) return false;
    this.#add(now, -this.#withdrawal);
    return true;
  }

  /** Retries the budget would allow now. */
  available(now: number): number {
    this.#advance(now);
    return Math.max(0, Math.floor((this.#sum + this.#reserve) / this.#withdrawal));
  }

  #add(now: number, amount: number): void {
    this.#advance(now);
    this.#slices[this.#head] = (this.#slices[this.#head] as number) + amount;
    this.#sum += amount;
  }

  /** Moves the window to `now`, dropping what is older than ttl. */
  #advance(now: number): void {
    if (now < this.#headStart + this.#sliceMs) return;
    if (this.#headStart === Number.NEGATIVE_INFINITY) {
      this.#headStart = now;
      return;
    }
    const steps = Math.min(SLICES, Math.floor((now - this.#headStart) / this.#sliceMs));
    for (let i = 0; i < steps; i++) {
      this.#head = (this.#head + 1) % SLICES;
      this.#sum -= this.#slices[this.#head] as number;
      this.#slices[this.#head] = 0;
    }
    this.#headStart += Math.floor((now - this.#headStart) / this.#sliceMs) * this.#sliceMs;
  }
}
