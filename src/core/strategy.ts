import type { IncomingMessage } from 'node:http';

/**
 * What a strategy may read of a backend. The pool's `Backend` implements it;
 * strategies never mutate it.
 */
export interface Candidate {
  /** Stable backend id, unique within a balancer. */
  readonly id: string;
  /** Configured weight, a positive number. @default 1 */
  readonly weight: number;
  /**
   * Weight after slow start: equal to `weight` once the ramp is over, smaller
   * while a backend that was just added or just recovered warms up. Always > 0.
   */
  readonly effectiveWeight: number;
  /** Requests currently in flight to this backend. */
  readonly active: number;
}

/** What a strategy may read of the request being balanced. */
export interface SelectionContext {
  /** The client request. Strategies must not consume its body. */
  readonly req: IncomingMessage;
  /** Client address, already resolved through `trustProxy`. */
  readonly clientAddress: string;
  /** Current time in milliseconds, from the balancer's clock (injectable). */
  readonly now: number;
  /** 1 for the first try, 2 for the first retry, and so on. */
  readonly attempt: number;
}

/** One observed upstream exchange, reported to strategies that learn from latency. */
export interface Sample {
  /** Time to response headers, in milliseconds. */
  readonly latencyMs: number;
  /** False for connect failures, resets, timeouts and 5xx. */
  readonly ok: boolean;
  /** When the exchange finished, in milliseconds from the balancer's clock. */
  readonly now: number;
}

/**
 * A selection strategy. Users may pass their own object implementing it as
 * `strategy`.
 *
 * @example
 * ```ts
 * import { type Strategy, createLoadBalancer } from 'switchyard-lb';
 * const first: Strategy = { name: 'first', pick: (candidates) => candidates[0] };
 * createLoadBalancer({ backends, strategy: first });
 * ```
 */
export interface Strategy<B extends Candidate = Candidate> {
  /** Name shown in metrics and logs. */
  readonly name: string;
  /**
   * Chooses one of `candidates`: the eligible backends (healthy, not ejected,
   * breaker not open, not draining, under `maxConnections`, not already tried
   * by this request). Never called with an empty list. Returning `undefined`
   * means no candidate is acceptable (the request gets 503 `ERR_NO_BACKEND`).
   */
  pick(candidates: readonly B[], ctx: SelectionContext): B | undefined;
  /** The full backend set changed (added, removed, weight updated). Rebuild rings and tables here. */
  update?(backends: readonly B[]): void;
  /** An exchange with `backend` finished. */
  observe?(backend: B, sample: Sample): void;
  /** The balancer is closing: release timers and memory. */
  close?(): void;
}
