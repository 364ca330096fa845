import { makeError } from '../errors.js';
import type { Middleware } from '../pipeline/compose.js';
import type { Backend } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import type { Strategy } from '../strategies/strategy.js';

/**
 * The `select` stage: asks the strategy for one of the eligible backends not
 * yet tried by this request, or ends the request with 503 `ERR_NO_BACKEND`.
 * `ctx.preferred` (a sticky session) wins while it is among those backends.
 */
export function select(pool: Pool, strategy: Strategy<Backend>, now: () => number): Middleware {
  return async function select(ctx, next) {
    ctx.attempt++;
    ctx.now = now();
    const candidates = pool.candidates(ctx.tried, ctx.now);
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
