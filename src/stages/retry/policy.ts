import type { Backend } from '../../core/backend.js';
import type { Context, PendingResponse } from '../../core/context.js';
import type { Events, RetryReason } from '../../core/events.js';
import { classifyFailure, isIdleRace } from '../../core/fault.js';
import { discardBody } from '../../core/response-body.js';
import { UpstreamError } from '../../core/upstream-error.js';
import type { RetryBudget } from './budget.js';
import type { ResolvedRetryOptions } from './options.js';
import { parseRetryAfter } from './retry-after.js';

/**
 * What the retry stage needs from the balancer.
 *
 * @example
 * ```ts
 * import { type RetryDeps } from './policy.js';
 * const deps: RetryDeps = { events, random: Math.random, now: performance.now.bind(performance),
 *   canRetry: () => true, canHedge: () => true, budget: undefined };
 * ```
 */
export interface RetryDeps {
  events: Events;
  random: () => number;
  now: () => number;
  /** Another attempt could find a backend (one not tried yet is available). */
  canRetry: (ctx: Context) => boolean;
  /** A hedge could start now (a backend not tried yet has a free slot). */
  canHedge: (ctx: Context) => boolean;
  /** The retry budget, or undefined when retries are unbudgeted. */
  budget: RetryBudget | undefined;
}

/** `wait` answers: the retry may go after this many ms, or must not go. */
export type RetryWait = number | undefined;

/** Passed to {@link RetryPolicy.decide} as the failure of an attempt that answered (with `response`). */
export const ANSWERED: unique symbol = Symbol('answered');

/**
 * What {@link RetryPolicy.decide} says about an attempt: answer with it
 * (`go: false`), or go again after `delayMs` (`race`: the idle-socket race,
 * outside attempts and budget, the same backend allowed).
 */
export type RetryDecision =
  | { readonly go: false }
  | {
      readonly go: true;
      readonly race: boolean;
      readonly delayMs: number;
      readonly reason: RetryReason;
      /** Id of the backend that failed, for the `retry` event. */
      readonly backend: string;
      /** The status that is retried (reason `status`). */
      readonly status?: number | undefined;
    };

const STOP: RetryDecision = Object.freeze({ go: false });

/**
 * Per-balancer retry policy, built once: which failures and responses are
 * retried and how long to wait. Shared by the sequential and hedged paths.
 *
 * @example
 * ```ts
 * import { setTimeout as sleep } from 'node:timers/promises';
 * import { RetryPolicy } from './policy.js';
 * import { retrySchema } from './options.js';
 * declare const deps: import('./policy.js').RetryDeps;
 * const policy = new RetryPolicy(retrySchema.parse({ attempts: 3 }), deps);
 * if (policy.retryableError(error, true) && policy.withdraw()) await sleep(policy.backoff(1));
 * ```
 */
export class RetryPolicy {
  readonly options: ResolvedRetryOptions;
  readonly deps: RetryDeps;
  readonly methods: ReadonlySet<string>;
  readonly #statuses: ReadonlySet<number>;
  readonly #grpcStatuses: ReadonlySet<number>;
  readonly #retryOn: ReadonlySet<RetryReason>;

  constructor(options: ResolvedRetryOptions, deps: RetryDeps) {
    this.options = options;
    this.deps = deps;
    this.methods = new Set(options.methods);
    this.#statuses = new Set(options.statuses);
    this.#grpcStatuses = new Set(options.grpcStatuses);
    this.#retryOn = new Set(options.retryOn);
  }

  /** True when some gRPC status is retryable (`retry.grpcStatuses` not empty). */
  get grpcRetries(): boolean {
    return this.#grpcStatuses.size > 0;
  }

  /** A retryable status (the response is discarded if a retry goes). */
  retryableStatus(status: number): boolean {
    return this.#statuses.has(status);
  }

  /**
   * May `error` be retried? `idempotent`: the method may be sent twice;
   * otherwise only a request that never left the balancer (the connection was
   * never made) goes elsewhere, as NGINX does.
   */
  retryableError(error: unknown, idempotent: boolean): error is UpstreamError {
    if (!(error instanceof UpstreamError)) return false;
    // A client that left or sent a malformed body is never retried; a lost hedge or a spent deadline has nothing left to retry for.
    const code = error.code;
    if (classifyFailure(error) === 'client' || code === 'ERR_DEADLINE' || code === 'ERR_CANCELLED') return false;
    if (!this.#retryOn.has(error.reason)) return false;
    return idempotent || (error.reason === 'connect-failure' && !error.reusedSocket);
  }

  /** The wait before retry `n` (1 for the first), from `backoff` or full jitter. */
  backoff(n: number): number {
    const { backoff, backoffBase, backoffMax } = this.options;
    const random = this.deps.random;
    if (backoff) return Math.max(0, backoff(n, random));
    return random() * Math.min(backoffMax, backoffBase * 2 ** (n - 1));
  }

  /**
   * The wait before retrying after `response` (retry `n`): its `Retry-After`
   * on a 503 or 429 when within `retryAfterMax`, else the backoff.
   * `undefined` means do not retry it (a longer `Retry-After`).
   */
  waitAfter(response: PendingResponse | undefined, n: number): RetryWait {
    if (response && (response.status === 503 || response.status === 429)) {
      const header = response.headers['retry-after'];
      const ms = parseRetryAfter(header as string | string[] | number | undefined, Date.now());
      if (ms !== undefined) return ms <= this.options.retryAfterMax ? ms : undefined;
    }
    return this.backoff(n);
  }

  /**
   * The one retry decision, used by the sequential loop and by hedging: after
   * an attempt on `backend` that failed with `failure` (or {@link ANSWERED}
   * with `response`), may the request go again, and after how long?
   *
   * - A reset on a reused keep-alive socket (the idle-socket race) goes once
   *   more at once while `mayRace`: not the backend's failure.
   * - Otherwise it goes while fewer than `max` attempts were made (`n` so
   *   far), the failure is retryable for the method (`idempotent`) or the
   *   status is, another backend could take it, the wait (backoff or
   *   `Retry-After`) ends before the deadline with nothing sent to the
   *   client, and the budget pays for it (charged here, last).
   *
   * @example
   * ```ts
   * declare const policy: import('./policy.js').RetryPolicy;
   * declare const n: number, max: number; // tries so far, allowed
   * declare const idempotent: boolean, raced: boolean;
   * declare const wait: (ctx: unknown, ms: number) => Promise<void>;
   * const decision = policy.decide(ctx, ctx.backend, error, undefined, n, max, idempotent, !raced);
   * if (decision.go) await wait(ctx, decision.delayMs);
   * ```
   */
  decide(
    ctx: Context,
    backend: Backend | undefined,
    failure: unknown,
    response: PendingResponse | undefined,
    n: number,
    max: number,
    idempotent: boolean,
    mayRace: boolean,
  ): RetryDecision {
    if (failure !== ANSWERED) {
      if (mayRace && backend && isIdleRace(failure) && !ctx.res.headersSent) {
        return { go: true, race: true, delayMs: 0, reason: 'reset', backend: backend.id };
      }
      if (n >= max || !this.retryableError(failure, idempotent) || !this.deps.canRetry(ctx)) return STOP;
      return this.#charge(ctx, this.backoff(n), failure.reason, failure.backend, undefined);
    }
    if (n >= max || !response) return STOP;
    const grpc = response.grpcStatus;
    // A trailers-only gRPC failure: retried for the gRPC statuses marked retryable, whatever the method (gRPC's retry policy).
    if (grpc !== undefined ? !this.#grpcStatuses.has(grpc) : !idempotent || !this.retryableStatus(response.status)) {
      return STOP;
    }
    // Asked last: a look at the pool, which an answer that is not retried (the usual one) does not need.
    if (!this.deps.canRetry(ctx)) return STOP;
    return this.#charge(
      ctx,
      this.waitAfter(response, n),
      'status',
      backend?.id ?? '',
      response.judgedStatus ?? response.status,
    );
  }

  #charge(
    ctx: Context,
    delayMs: RetryWait,
    reason: RetryReason,
    backend: string,
    status: number | undefined,
  ): RetryDecision {
    if (delayMs === undefined || ctx.res.headersSent || this.deps.now() + delayMs >= ctx.deadline) return STOP;
    if (!this.withdraw()) return STOP;
    return { go: true, race: false, delayMs, reason, backend, status };
  }

  /** The budget allows one more retry or hedge (and it is charged). */
  withdraw(): boolean {
    const budget = this.deps.budget;
    return budget === undefined || budget.tryWithdraw(this.deps.now());
  }

  /** Emits `retry` for a retry after `backend` failed. */
  emit(backend: string, attempt: number, reason: RetryReason, delayMs: number, status?: number): void {
    const events = this.deps.events;
    if (!events.has('retry')) return;
    events.emit('retry', { backend, attempt, reason, ...(status === undefined ? {} : { status }), delayMs });
  }
}

/**
 * Destroys a response that will not be sent; its backend's slot is released when the body closes.
 *
 * @example
 * ```ts
 * import { discard } from './policy.js';
 * if (ctx.response?.status === 503) discard(ctx); // ctx.response is now undefined
 * ```
 */
export function discard(ctx: Context): void {
  if (ctx.response) discardBody(ctx.response);
  ctx.response = undefined;
}
