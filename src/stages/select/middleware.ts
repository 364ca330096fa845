import type { Backend } from '../../core/backend.js';
import type { Middleware, Next } from '../../core/compose.js';
import type { Context } from '../../core/context.js';
import { makeError } from '../../core/errors.js';
import type { Strategy } from '../../core/strategy.js';
import type { Waiter, WaitQueue } from '../../upstream/overload/wait-queue.js';
import type { Pool } from '../../upstream/pool/pool.js';

/**
 * The `select` stage: asks the strategy for one of the eligible backends not
 * yet tried by this request. When every such backend is at its connection
 * limit and a `queue` is given, the request waits there for a slot (503
 * `ERR_QUEUE_FULL` / `ERR_QUEUE_TIMEOUT`); otherwise it ends with 503
 * `ERR_NO_BACKEND`.
 * `ctx.preferred` (a sticky session) wins while it is among the candidates.
 */
export function select(pool: Pool, strategy: Strategy<Backend>, now: () => number, queue?: WaitQueue): Middleware {
  /** Takes a backend from `candidates` and runs the rest of the chain (or fails with ERR_NO_BACKEND). */
  function choose(ctx: Context, next: Next, candidates: readonly Backend[]): Promise<void> {
    const preferred = ctx.preferred;
    const backend =
      candidates.length === 0
        ? undefined
        : preferred !== undefined && candidates.includes(preferred)
          ? preferred
          : strategy.pick(candidates, ctx);
    if (!backend) {
      return Promise.reject(
        makeError(
          'ERR_NO_BACKEND',
          pool.size === 0 ? 'no backend is configured' : 'no backend is available to take this request',
        ),
      );
    }
    ctx.backend = backend;
    ctx.tried.add(backend);
    return next();
  }

  /** Every untried backend is at its limit: wait in the queue for a slot, then choose. */
  async function waitThenChoose(ctx: Context, next: Next): Promise<void> {
    let candidates: readonly Backend[];
    let waiter: Waiter | undefined;
    do {
      waiter = await (queue as WaitQueue).wait(ctx, waiter);
      ctx.now = now();
      candidates = pool.candidates(ctx.tried, ctx.now);
    } while (candidates.length === 0 && pool.hasUntried(ctx.tried, ctx.now));
    await choose(ctx, next, candidates);
  }

  // Not async: with a backend free, the rest of the chain's promise is this stage's own (no extra frame).
  return function select(ctx, next) {
    ctx.attempt++;
    ctx.now = now();
    const candidates = pool.candidates(ctx.tried, ctx.now);
    if (candidates.length === 0 && queue !== undefined && pool.hasUntried(ctx.tried, ctx.now)) {
      return waitThenChoose(ctx, next);
    }
    return choose(ctx, next, candidates);
  };
}
