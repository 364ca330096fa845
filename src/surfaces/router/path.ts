/**
 * Paths as the router sees them. Rules match the normalised path (the
 * request path's `normalizePath` of `forward/request-target`, as every path
 * rule does); the backend gets the raw one, changed only by the route's
 * rewrite rule.
 *
 * @module
 */
import { splitAbsoluteForm } from '../../core/net/request-target.js';

/** True when `path` is `prefix` or lies below it on a segment boundary. */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return path.startsWith('/');
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47);
}

/**
 * The request target sent upstream after a prefix rewrite: `matched` (a
 * prefix of the normalised path) is replaced by `replacement` (`'/'` strips
 * it). The raw path is rewritten when it starts with the matched prefix;
 * otherwise (it only matched once normalised) the normalised path is. The
 * query is kept as sent.
 *
 * @example
 * ```ts
 * import { rewriteTarget } from 'switchyard-lb';
 * rewriteTarget('/api/users?page=2', '/api/users', '/api', '/'); // '/users?page=2'
 * ```
 */
export function rewriteTarget(raw: string, normalised: string, matched: string, replacement: string): string {
  let origin = raw;
  let authority = '';
  if (!raw.startsWith('/')) {
    const absolute = splitAbsoluteForm(raw);
    if (absolute) {
      authority = `${raw.slice(0, raw.indexOf('//') + 2)}${absolute.authority}`;
      origin = absolute.path;
    }
  }
  const q = origin.indexOf('?');
  const rawPath = q === -1 ? origin : origin.slice(0, q);
  const query = q === -1 ? '' : origin.slice(q);
  const base = underPrefix(rawPath, matched) ? rawPath : normalised;
  const rest = matched === '/' ? base : base.slice(matched.length);
  const head = replacement === '/' ? '' : replacement.replace(/\/+$/, '');
  let path = head + (rest === '' || rest.startsWith('/') ? rest : `/${rest}`);
  if (path === '') path = '/';
  return `${authority}${path}${query}`;
}
