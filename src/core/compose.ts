import type { Context } from './context.js';
import { makeError } from './errors.js';

/** Continues with the rest of the pipeline. Call at most once, and await it. */
export type Next = () => Promise<void>;

/**
 * A pipeline stage with the Koa signature.
 *
 * @example
 * ```ts
 * import { type Middleware } from 'switchyard-lb';
 * const timing: Middleware = async function timing(ctx, next) {
 *   const start = performance.now();
 *   await next();
 *   ctx.response?.headers && (ctx.response.headers['server-timing'] = `lb;dur=${performance.now() - start}`);
 * };
 * ```
 */
export type Middleware = (ctx: Context, next: Next) => Promise<void>;

/** A middleware with the name it is known by in the chain. */
export interface NamedMiddleware {
  readonly name: string;
  readonly handle: Middleware;
}

const DONE: Promise<void> = Promise.resolve();

/**
 * Composes middleware into one, Koa-style, built once. Guards against the two
 * classic bugs: `next()` called twice (rejects with `ERR_NEXT_CALLED_TWICE`)
 * and a middleware that returns without awaiting `next()` while the rest of
 * the chain is still running (rejects with `ERR_MIDDLEWARE`, naming it).
 *
 * @example
 * ```ts
 * import { compose } from 'switchyard-lb';
 * declare const a: import('./compose.js').Middleware;
 * declare const b: import('./compose.js').Middleware;
 * const run = compose([{ name: 'a', handle: a }, { name: 'b', handle: b }]);
 * await run(ctx, async () => {});
 * ```
 */
export function compose(chain: readonly NamedMiddleware[]): (ctx: Context, last?: Next) => Promise<void> {
  const entries = chain.slice();
  return function composed(ctx: Context, last?: Next): Promise<void> {
    return dispatch(0);

    function dispatch(i: number): Promise<void> {
      const entry = entries[i];
      if (!entry) return last ? last() : DONE;
      let called = false;
      let pending: Promise<void> | undefined;
      let settled = false;
      const next: Next = () => {
        if (called) {
          return Promise.reject(
            makeError('ERR_NEXT_CALLED_TWICE', `middleware '${entry.name}' called next() more than once`),
          );
        }
        called = true;
        pending = dispatch(i + 1).finally(() => {
          settled = true;
        });
        return pending;
      };
      let result: Promise<void>;
      try {
        result = entry.handle(ctx, next);
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve(result).then(() => {
        if (pending && !settled) {
          // The downstream chain would go on writing to ctx after this middleware
          // believes the request is done: fail loudly rather than race.
          pending.catch(() => {});
          throw makeError(
            'ERR_MIDDLEWARE',
            `middleware '${entry.name}' returned before the next() it called had finished: await next()`,
          );
        }
      });
    }
  };
}
