import type { Middleware } from '../../core/compose.js';
import type { Context } from '../../core/context.js';
import { makeError } from '../../core/errors.js';
import { isGrpc } from '../../core/net/grpc.js';
import { hasBody } from '../../core/net/has-body.js';
import { runHedged } from './hedge.js';
import type { ResolvedHedgeOptions, ResolvedRetryOptions } from './options.js';
import { ANSWERED, discard, type RetryDecision, type RetryDeps, RetryPolicy } from './policy.js';
import { bufferRequestBody, recordRequestBody } from './request-body.js';

/**
 * The `retry` stage: runs the attempt bracket (`select → … → forward`) and,
 * when an attempt fails before the client got anything, runs it again on a
 * backend not yet tried.
 *
 * - Idempotent methods (`retry.methods`) are retried on `retryOn` failures and
 *   `statuses`; any other method only when its connection was never made.
 * - A request body is buffered up to `maxBufferBytes` and replayed; a larger
 *   one streams and is never retried.
 * - Waits are full-jitter exponential backoff, or a short enough
 *   `Retry-After`; none may cross the request's deadline.
 * - Each retry (and hedge) is charged to the retry budget; a retry the budget
 *   refuses leaves the failure as it is.
 * - A reset on a reused keep-alive socket (the idle-socket race) is retried
 *   once more, on any backend the same one included, beyond `attempts` and
 *   the budget, when the request may safely be sent again.
 * - With `hedge`, idempotent requests with no body or a buffered one race a
 *   second attempt after `hedge.delay` (see `runHedged`).
 */
export function retry(
  options: ResolvedRetryOptions,
  hedge: ResolvedHedgeOptions | false,
  attempt: (ctx: Context) => Promise<void>,
  deps: RetryDeps,
): Middleware {
  const policy = new RetryPolicy(options, deps);
  const { now, budget } = deps;

  function wait(ctx: Context, delayMs: number): Promise<void> {
    if (delayMs < 1) return Promise.resolve();
    const signal = ctx.signal;
    if (signal.aborted) return Promise.reject(makeError('ERR_CLIENT_ABORTED', 'client closed the connection'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(makeError('ERR_CLIENT_ABORTED', 'client closed the connection while a retry waited'));
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, delayMs);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Attempts after the first, while `decision` (about attempt `n`, which
   * ended with `failure`) says go.
   */
  async function more(
    ctx: Context,
    idempotent: boolean,
    replayable: boolean,
    max: number,
    stopRecording: (() => void) | undefined,
    first: unknown,
    firstDecision: RetryDecision,
  ): Promise<void> {
    let failure = first;
    let decision = firstDecision;
    let raced = false;
    for (let n = 1; ; ) {
      if (!decision.go) {
        stopRecording?.();
        if (failure !== ANSWERED) throw failure;
        return;
      }
      const backend = ctx.backend;
      if (decision.race && backend) {
        // The idle-socket race: the backend closed a pooled connection as the
        // request went out. Not the backend's failure: one more try, on a fresh
        // connection, the same backend allowed, outside attempts and budget.
        raced = true;
        ctx.tried.delete(backend);
        policy.emit(backend.id, n + 1, 'reset', 0);
      } else {
        // Discard a retried answer: the client has not seen a byte of it.
        if (failure === ANSWERED) discard(ctx);
        policy.emit(decision.backend, n + 1, decision.reason, decision.delayMs, decision.status);
        await wait(ctx, decision.delayMs);
        n++;
      }
      failure = ANSWERED;
      try {
        await attempt(ctx);
      } catch (error) {
        failure = error;
      }
      decision = policy.decide(ctx, ctx.backend, failure, ctx.response, n, max, idempotent, !raced && replayable);
    }
  }

  /**
   * The first attempt and what follows it. No promise of its own when the
   * first attempt is the last (the usual request): the decision is made in
   * the attempt's own `then`, and only a retry enters the async loop.
   */
  function attempts(
    ctx: Context,
    idempotent: boolean,
    replayable: boolean,
    stopRecording: (() => void) | undefined,
  ): Promise<void> {
    if (hedge && idempotent && replayable) return runHedged(ctx, attempt, policy, hedge);
    const max = replayable ? options.attempts : 1;
    const after = (failure: unknown): Promise<void> | undefined => {
      const decision = policy.decide(ctx, ctx.backend, failure, ctx.response, 1, max, idempotent, replayable);
      if (decision.go) return more(ctx, idempotent, replayable, max, stopRecording, failure, decision);
      stopRecording?.();
      if (failure !== ANSWERED) throw failure;
      return undefined;
    };
    let first: Promise<void>;
    try {
      first = attempt(ctx);
    } catch (error) {
      first = Promise.reject(error);
    }
    return first.then(() => after(ANSWERED), after);
  }

  /** {@link attempts} once a request body is dealt with: buffered (then replayable), recorded, or streamed once. */
  async function withBody(ctx: Context, idempotent: boolean): Promise<void> {
    let replayable = true;
    let stopRecording: (() => void) | undefined;
    if (!idempotent && policy.grpcRetries && isGrpc(ctx.req.headers)) {
      // A gRPC call (POST) may be retried on a retryable status: its body is recorded as it streams.
      if (options.bufferBody) stopRecording = recordRequestBody(ctx, options.maxBufferBytes);
      else replayable = false;
    } else replayable = idempotent && options.bufferBody && (await bufferRequestBody(ctx, options.maxBufferBytes, now));
    return attempts(ctx, idempotent, replayable, stopRecording);
  }

  return function retry(ctx, _next) {
    budget?.deposit(now());
    const idempotent = policy.methods.has(ctx.method);
    return hasBody(ctx.req) ? withBody(ctx, idempotent) : attempts(ctx, idempotent, true, undefined);
  };
}
