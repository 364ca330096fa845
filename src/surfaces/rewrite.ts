import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { makeError } from '../core/errors.js';
import { fn } from '../core/zod.js';

/**
 * Your own rewrite: the request target (path and query, origin-form) the
 * backend should get. It must return a path starting with `/`, without
 * spaces or control characters.
 *
 * @example
 * ```ts
 * import { type RewriteFunction } from 'switchyard-lb';
 * const rewrite: RewriteFunction = (path) => path.replace(/^\/v1\//, '/v2/');
 * ```
 */
export type RewriteFunction = (path: string, req: IncomingMessage) => string;

/**
 * Path rewriting for the whole balancer (the router has its own, per route):
 * `{ prefix, to }` replaces a leading `prefix` (matched on whole segments:
 * `/api` matches `/api` and `/api/x`, not `/apix`) with `to`; a function
 * rewrites as it likes. Applied to requests and upgrades after an Express
 * mount path was stripped. The query string is kept.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * createLoadBalancer({ backends, rewrite: { prefix: '/api', to: '/' } }); // /api/users?x=1 -> /users?x=1
 * createLoadBalancer({ backends, rewrite: (path) => `/v2${path}` });
 * ```
 */
export type RewriteOption = { prefix: string; to: string } | RewriteFunction;

// Visible ASCII only: what Node sends as a request target without escaping.
const SAFE_PATH = /^\/[\x21-\x7e]*$/;
const prefixPath = z
  .string()
  .regex(/^\/(?:(?![?#])[\x21-\x7e])*$/, { error: 'a path starting with "/", without "?" or spaces' });

/**
 * Schema of the `rewrite` option.
 *
 * @example
 * ```ts
 * import { rewriteSchema } from './rewrite.js';
 * rewriteSchema.parse({ prefix: '/api', to: '/' });
 * ```
 */
export const rewriteSchema = z.union([
  z.strictObject({
    /** Leading path to replace, matched on whole segments; a trailing `/` is ignored. */
    prefix: prefixPath,
    /** What replaces it: `'/'` strips the prefix. */
    to: prefixPath,
  }),
  fn<RewriteFunction>('{ prefix, to } or a function (path, req) => string'),
]);

/**
 * Whether `path` (a request target, query included) lies under `prefix`, on
 * segment boundaries. `prefix` has no trailing slash, except `/` itself.
 *
 * @example
 * ```ts
 * import { underPrefix } from './rewrite.js';
 * underPrefix('/api/x?y', '/api'); // true
 * underPrefix('/apix', '/api'); // false
 * ```
 */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  // End, '/', '?' (query) or '#'.
  return Number.isNaN(next) || next === 47 || next === 63 || next === 35;
}

/**
 * `path` with a leading `prefix` (see {@link underPrefix}) replaced by `to`;
 * `path` itself when it does not match.
 *
 * @example
 * ```ts
 * import { replacePrefix } from './rewrite.js';
 * replacePrefix('/api/users?page=2', '/api', '/'); // '/users?page=2'
 * ```
 */
export function replacePrefix(path: string, prefix: string, to: string): string {
  if (!underPrefix(path, prefix)) return path;
  const rest = prefix === '/' ? path.slice(1) : path.slice(prefix.length + (path[prefix.length] === '/' ? 1 : 0));
  const base = to.endsWith('/') ? to : `${to}/`;
  if (rest === '' || rest.startsWith('?') || rest.startsWith('#')) return to === '/' ? `/${rest}` : `${to}${rest}`;
  return `${base}${rest}`;
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * Makes the rewrite step of a balancer, or `undefined` without one. The step
 * throws `ERR_MIDDLEWARE` when a rewrite function returns no path.
 *
 * @example
 * ```ts
 * import { createRewrite } from './rewrite.js';
 * createRewrite({ prefix: '/api', to: '/v2' })?.('/api/x', req); // '/v2/x'
 * ```
 */
export function createRewrite(option: RewriteOption | undefined): RewriteFunction | undefined {
  if (option === undefined) return undefined;
  if (typeof option === 'function') {
    return (path, req) => {
      const out: unknown = option(path, req);
      if (typeof out !== 'string' || !SAFE_PATH.test(out)) {
        throw makeError(
          'ERR_MIDDLEWARE',
          'the rewrite function returned something other than a path starting with "/"',
        );
      }
      return out;
    };
  }
  const prefix = trimSlash(option.prefix);
  const to = option.to;
  return (path) => replacePrefix(path, prefix, to);
}
