/**
 * Paths as the router sees them. Rules match the normalised path; the
 * backend gets the raw one, changed only by the route's rewrite rule.
 *
 * @module
 */

const UNRESERVED = /%(2[DdEe]|3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|5[Ff]|6[1-9A-Fa-f]|7[0-9Aa]|7[Ee])/g;

/**
 * The path of a request target, normalised for matching: query dropped,
 * percent-encoded unreserved characters decoded (`%41` is `A`, `%2E` is `.`),
 * other escapes upper-cased, repeated slashes collapsed, `.` and `..`
 * segments resolved (never above the root). `undefined` for a target that
 * is neither a path nor an absolute http(s) URL.
 *
 * @example
 * ```ts
 * normalizePath('/a//b/./c/../d?x=1'); // '/a/b/d'
 * ```
 */
export function normalizePath(target: string): string | undefined {
  let path = target;
  if (!path.startsWith('/')) {
    if (!/^https?:\/\//i.test(path) || !URL.canParse(path)) return undefined;
    path = new URL(path).pathname;
  }
  const q = path.indexOf('?');
  if (q !== -1) path = path.slice(0, q);
  const hash = path.indexOf('#');
  if (hash !== -1) path = path.slice(0, hash);
  if (path.includes('%')) {
    path = path.replace(UNRESERVED, (m) => String.fromCharCode(Number.parseInt(m.slice(1), 16)));
    path = path.replace(/%[0-9a-f]{2}/gi, (m) => m.toUpperCase());
  }
  if (!path.includes('//') && !path.includes('/.')) return path;
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment === '..') {
      out.pop();
      if (last) out.push('');
    } else if (segment === '.' || (segment === '' && !last)) {
      if (last) out.push('');
    } else out.push(segment);
  }
  return `/${out.join('/')}`;
}

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
 * rewriteTarget('/api/users?page=2', '/api/users', '/api', '/'); // '/users?page=2'
 * ```
 */
export function rewriteTarget(raw: string, normalised: string, matched: string, replacement: string): string {
  let origin = raw;
  let authority = '';
  if (!raw.startsWith('/')) {
    const url = new URL(raw);
    authority = `${url.protocol}//${url.host}`;
    origin = `${url.pathname}${url.search}`;
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
