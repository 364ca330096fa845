import type { Backend } from '../../core/backend.js';
import type { Middleware } from '../../core/compose.js';
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
  return async function select(ctx, next) {
    ctx.attempt++;
    ctx.now = now();
    let candidates = pool.candidates(ctx.tried, ctx.now);
    if (candidates.length === 0 && queue !== undefined && pool.hasUntried(ctx.tried, ctx.now)) {
      let waiter: Waiter | undefined;
      do {
        waiter = await queue.wait(ctx, waiter);
        ctx.now = now();
        candidates = pool.candidates(ctx.tried, ctx.now);
      } while (candidates.length === 0 && pool.hasUntried(ctx.tried, ctx.now));
    }
    const preferred = ctx.preferred;
    const backend =
      candidates.length === 0
        ? undefined
        : preferred !== undefined && candidates.includes(preferred)
          ? preferred
          : strategy.pick(candidates, ctx);
    if (!backend) {
      throw makeError(
        'ERR_NO_BACKEND',
        pool.size === 0 ? 'no backend is configured' : 'no backend is available to take this request',
      );
    }
    ctx.backend = backend;
    ctx.tried.add(backend);
    await next();
  };
}
