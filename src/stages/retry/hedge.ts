import type { Context } from '../../core/context.js';
import { makeError, SwitchyardError } from '../../core/errors.js';
import type { ResolvedHedgeOptions } from './options.js';
import { ANSWERED, discard, type RetryPolicy } from './policy.js';

/** Failures that end the whole request at once, whatever other attempts are doing. */
const FATAL = new Set([
  'ERR_CLIENT_ABORTED',
  'ERR_DEADLINE',
  'ERR_MIDDLEWARE',
  'ERR_NEXT_CALLED_TWICE',
  'ERR_INTERNAL',
]);

function isFatal(error: unknown): boolean {
  return !(error instanceof SwitchyardError) || FATAL.has(error.code);
}

/**
 * Runs a request with hedging: each attempt runs the bracket on its own
 * forked context; when `hedge.delay` passes without response headers from
 * any attempt in flight, another attempt starts on a backend not tried yet
 * (at most `maxHedges`, each charged to the retry budget, only while some
 * backend has a free slot). The first attempt with a response that is not a
 * retryable status wins: it is committed to `ctx` (backend, response) and
 * the others are cancelled (their upstream requests destroyed, their
 * backends released, a late response discarded). Failures and retryable
 * statuses wait for the attempts still in flight; when none is left, the
 * usual retry rules apply (attempts, backoff, `Retry-After`, budget,
 * deadline), and the last failure is the answer when they say no.
 *
 * @example
 * ```ts
 * import { runHedged } from './hedge.js';
 * declare const [, bracket, policy]: Parameters<typeof runHedged>;
 * await runHedged(ctx, bracket, policy, { delay: 50, maxHedges: 1 });
 * ctx.response; // the winner's
 * ```
 */
export function runHedged(
  ctx: Context,
  bracket: (ctx: Context) => Promise<void>,
  policy: RetryPolicy,
  hedge: ResolvedHedgeOptions,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    new HedgedRequest(ctx, bracket, policy, hedge, resolve, reject).launch();
  });
}

class HedgedRequest {
  readonly #ctx: Context;
  readonly #bracket: (ctx: Context) => Promise<void>;
  readonly #policy: RetryPolicy;
  readonly #hedge: ResolvedHedgeOptions;
  readonly #resolve: () => void;
  readonly #reject: (error: unknown) => void;
  readonly #runs = new Set<Context>();
  #launched = 0;
  #hedges = 0;
  #retries = 0;
  #done = false;
  #raced = false;
  /** An attempt that answered with a retryable status, kept as the answer should nothing better come. */
  #held: Context | undefined;
  #lastError: unknown;
  #hedgeTimer: NodeJS.Timeout | undefined;
  #backoffTimer: NodeJS.Timeout | undefined;
  readonly #onAbort = () => {
    // In flight attempts see the abort through their own signals; only a backoff wait needs ending here.
    if (!this.#done && this.#runs.size === 0) {
      this.#fail(makeError('ERR_CLIENT_ABORTED', 'client closed the connection while a retry waited'));
    }
  };

  constructor(
    ctx: Context,
    bracket: (ctx: Context) => Promise<void>,
    policy: RetryPolicy,
    hedge: ResolvedHedgeOptions,
    resolve: () => void,
    reject: (error: unknown) => void,
  ) {
    this.#ctx = ctx;
    this.#bracket = bracket;
    this.#policy = policy;
    this.#hedge = hedge;
    this.#resolve = resolve;
    this.#reject = reject;
    ctx.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  launch(): Context {
    const ctx = this.#ctx;
    const child = ctx.fork();
    child.attempt = this.#launched++;
    ctx.attempt = this.#launched;
    this.#runs.add(child);
    this.#bracket(child).then(
      () => this.#settle(child, undefined),
      (error: unknown) => this.#settle(child, error ?? new Error('attempt failed')),
    );
    if (this.#hedgeTimer) clearTimeout(this.#hedgeTimer);
    this.#hedgeTimer =
      this.#hedges < this.#hedge.maxHedges ? setTimeout(onHedgeTimer, this.#hedge.delay, this) : undefined;
    return child;
  }

  /** The hedge delay passed with attempts in flight and no response yet. */
  hedgeNow(): void {
    this.#hedgeTimer = undefined;
    const ctx = this.#ctx;
    if (this.#done || this.#runs.size === 0 || ctx.res.headersSent) return;
    const policy = this.#policy;
    if (!policy.deps.canHedge(ctx) || !policy.withdraw()) return;
    this.#hedges++;
    const child = this.launch();
    const events = policy.deps.events;
    if (events.has('hedge')) events.emit('hedge', { backend: child.backend?.id ?? '', attempt: this.#launched });
  }

  /** The backoff before a retry is over. */
  retryNow(): void {
    this.#backoffTimer = undefined;
    if (!this.#done) this.launch();
  }

  #settle(child: Context, error: unknown): void {
    this.#runs.delete(child);
    if (this.#done) {
      discard(child);
      return;
    }
    if (error === undefined) {
      const response = child.response;
      if (!response || !this.#policy.retryableStatus(response.status)) {
        this.#win(child);
        return;
      }
      if (this.#held) discard(this.#held);
      this.#held = child;
    } else {
      if (isFatal(error)) {
        this.#fail(error, child);
        return;
      }
      this.#lastError = error;
    }
    if (this.#runs.size === 0) this.#afterLast(child, error);
  }

  /** Nothing is in flight any more and nothing won: retry, or answer with the last outcome. */
  #afterLast(child: Context, error: unknown): void {
    const ctx = this.#ctx;
    const policy = this.#policy;
    const backend = child.backend;
    const failure = error === undefined ? ANSWERED : error;
    const n = this.#retries + 1;
    const decision = policy.decide(
      ctx,
      backend,
      failure,
      child.response,
      n,
      policy.options.attempts,
      true,
      !this.#raced,
    );
    if (decision.go && decision.race && backend) {
      // The idle keep-alive socket race: once more at once, the same backend allowed, outside attempts and budget.
      this.#raced = true;
      ctx.tried.delete(backend);
      policy.emit(backend.id, this.#launched + 1, 'reset', 0);
      this.launch();
      return;
    }
    if (decision.go) {
      this.#retries++;
      policy.emit(decision.backend, this.#launched + 1, decision.reason, decision.delayMs, decision.status);
      if (this.#held) discard(this.#held);
      this.#held = undefined;
      this.#backoffTimer = setTimeout(onBackoffTimer, decision.delayMs, this);
      return;
    }
    const held = this.#held;
    if (held) this.#win(held);
    else this.#fail(this.#lastError, child);
  }

  #win(child: Context): void {
    this.#end();
    if (this.#held && this.#held !== child) discard(this.#held);
    const ctx = this.#ctx;
    ctx.backend = child.backend;
    ctx.response = child.response;
    this.#resolve();
  }

  #fail(error: unknown, child?: Context): void {
    this.#end();
    if (this.#held) discard(this.#held);
    if (child?.backend) this.#ctx.backend = child.backend;
    this.#reject(error);
  }

  #end(): void {
    this.#done = true;
    if (this.#hedgeTimer) clearTimeout(this.#hedgeTimer);
    if (this.#backoffTimer) clearTimeout(this.#backoffTimer);
    this.#hedgeTimer = undefined;
    this.#backoffTimer = undefined;
    this.#ctx.signal.removeEventListener('abort', this.#onAbort);
    for (const run of this.#runs) run.cancel();
  }
}

function onHedgeTimer(request: HedgedRequest): void {
  request.hedgeNow();
}

function onBackoffTimer(request: HedgedRequest): void {
  request.retryNow();
}
