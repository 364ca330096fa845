import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedRoute } from './options.js';

/** Whether a request header's value (or its absence) meets a route's header condition. */
export type HeaderTest = (value: string | string[] | undefined) => boolean;

/** A route compiled for matching. */
export interface CompiledRoute {
  /** The route's name (`routes[i]` unless given). */
  readonly name: string;
  /** Position in the route list. */
  readonly index: number;
  /** The pool it sends to. */
  readonly pool: string;
  /** The route as validated. */
  readonly options: ResolvedRoute;
  readonly kind: 'exact' | 'prefix' | 'pattern';
  /** The exact path or the prefix (no trailing slash but for `/`); the pattern's text. */
  readonly path: string;
  readonly regex: RegExp | undefined;
  readonly keys: readonly string[];
  readonly methods: ReadonlySet<string> | undefined;
  readonly headers: readonly (readonly [string, HeaderTest])[];
  /** Replacement for the matched prefix, `undefined` without a rewrite. */
  readonly replacement: string | undefined;
}

/** What {@link RouteTable.match} found. */
export interface RouteMatch {
  readonly route: CompiledRoute;
  /** Pattern parameters (`:id`, and `*` for a final wildcard); empty for other routes. */
  readonly params: Readonly<Record<string, string>>;
  /** The part of the normalised path the route matched (the prefix, or the whole path). */
  readonly matched: string;
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

function headerTest(condition: string | true | { regex: string }): HeaderTest {
  if (condition === true) return (value) => value !== undefined;
  if (typeof condition === 'string') {
    return (value) => (Array.isArray(value) ? value.includes(condition) : value === condition);
  }
  const regex = new RegExp(condition.regex);
  return (value) =>
    value !== undefined && (Array.isArray(value) ? value.some((v) => regex.test(v)) : regex.test(value));
}

function compilePattern(pattern: string): { regex: RegExp; keys: string[] } {
  const keys: string[] = [];
  const parts = pattern.split('/').slice(1);
  let source = '';
  parts.forEach((part, i) => {
    if (part === '*' && i === parts.length - 1) {
      keys.push('*');
      source += '(?:/(.*))?';
    } else if (part.startsWith(':') && part.length > 1) {
      keys.push(part.slice(1));
      source += '/([^/]+)';
    } else source += `/${part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
  });
  return { regex: new RegExp(`^${source || '/'}$`), keys };
}

function trimPrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/**
 * Compiles one validated route.
 *
 * @example
 * ```ts
 * import { compileRoute } from './match.js';
 * import { routeSchema } from 'switchyard-lb';
 * compileRoute(routeSchema.parse({ prefix: '/api/', pool: 'api' }), 0).path; // '/api'
 * ```
 */
export function compileRoute(options: ResolvedRoute, index: number): CompiledRoute {
  const kind = options.exact !== undefined ? 'exact' : options.pattern !== undefined ? 'pattern' : 'prefix';
  const path =
    kind === 'exact'
      ? (options.exact as string)
      : kind === 'pattern'
        ? (options.pattern as string)
        : trimPrefix(options.prefix ?? '/');
  const compiled = kind === 'pattern' ? compilePattern(path) : undefined;
  const rewrite = options.rewrite;
  return {
    name: options.name ?? `routes[${index}]`,
    index,
    pool: options.pool,
    options,
    kind,
    path,
    regex: compiled?.regex,
    keys: compiled?.keys ?? [],
    methods: options.methods ? new Set(options.methods) : undefined,
    headers: Object.entries(options.headers ?? {}).map(([name, c]) => [name, headerTest(c)] as const),
    replacement: rewrite === undefined ? undefined : 'stripPrefix' in rewrite ? '/' : rewrite.replacePrefix,
  };
}

/** More conditions first, then list order. */
function bySpecificity(a: CompiledRoute, b: CompiledRoute): number {
  const ca = (a.methods ? 1 : 0) + a.headers.length;
  const cb = (b.methods ? 1 : 0) + b.headers.length;
  return cb - ca || a.index - b.index;
}

function conditionsHold(route: CompiledRoute, method: string, headers: IncomingHttpHeaders): boolean {
  if (route.methods && !route.methods.has(method)) return false;
  for (const [name, test] of route.headers) if (!test(headers[name])) return false;
  return true;
}

/** The path rules of one host (or of every host). */
class PathTable {
  readonly exact = new Map<string, CompiledRoute[]>();
  readonly prefix = new Map<string, CompiledRoute[]>();
  readonly patterns: CompiledRoute[] = [];

  add(route: CompiledRoute): void {
    if (route.kind === 'pattern') {
      this.patterns.push(route);
      return;
    }
    const map = route.kind === 'exact' ? this.exact : this.prefix;
    const list = map.get(route.path);
    if (list) list.push(route);
    else map.set(route.path, [route]);
  }

  sort(): void {
    for (const list of this.exact.values()) list.sort(bySpecificity);
    for (const list of this.prefix.values()) list.sort(bySpecificity);
  }

  match(path: string, method: string, headers: IncomingHttpHeaders): RouteMatch | undefined {
    const exact = this.exact.get(path);
    if (exact) {
      for (const route of exact)
        if (conditionsHold(route, method, headers)) return { route, params: NO_PARAMS, matched: path };
    }
    for (const route of this.patterns) {
      const found = (route.regex as RegExp).exec(path);
      if (found && conditionsHold(route, method, headers)) {
        const params: Record<string, string> = {};
        route.keys.forEach((key, i) => {
          params[key] = found[i + 1] ?? '';
        });
        return { route, params, matched: path };
      }
    }
    if (this.prefix.size === 0) return undefined;
    // Longest prefix first: one map lookup per path segment, whatever the number of routes.
    let candidate = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    for (;;) {
      const list = this.prefix.get(candidate);
      if (list) {
        for (const route of list)
          if (conditionsHold(route, method, headers)) return { route, params: NO_PARAMS, matched: candidate };
      }
      if (candidate === '/') return undefined;
      const slash = candidate.lastIndexOf('/');
      candidate = slash <= 0 ? '/' : candidate.slice(0, slash);
    }
  }
}

/**
 * The compiled route list. Precedence, first to last:
 *
 * 1. host: an exact host, then wildcards from the most specific
 *    (`*.eu.example.com` before `*.example.com`), then routes without a host;
 *    when nothing in a host's rules matches, the next level is tried;
 * 2. path, within a host level: `exact`, then `pattern` routes in list order,
 *    then the longest `prefix` (a route without a path is the prefix `/`);
 * 3. among routes with the same host and path, those with more method and
 *    header conditions first, then list order; a route whose conditions fail
 *    is skipped for the next one.
 *
 * Host and prefix lookups are hash-map probes (one per host label and per
 * path segment): their cost does not grow with the number of routes.
 * Patterns are tried one by one.
 *
 * @example
 * ```ts
 * import { RouteTable } from 'switchyard-lb';
 * const table = new RouteTable([{ host: 'api.example.com', prefix: '/v1', pool: 'api' }]);
 * table.match('api.example.com', '/v1/users', 'GET', {})?.route.pool; // 'api'
 * ```
 */
export class RouteTable {
  readonly routes: readonly CompiledRoute[];
  readonly #hosts = new Map<string, PathTable>();
  readonly #wildcards = new Map<string, PathTable>();
  readonly #any = new PathTable();
  #anyUsed = false;

  constructor(routes: readonly ResolvedRoute[]) {
    this.routes = routes.map(compileRoute);
    for (const route of this.routes) {
      const hosts =
        route.options.host === undefined
          ? []
          : Array.isArray(route.options.host)
            ? route.options.host
            : [route.options.host];
      if (hosts.length === 0) {
        this.#any.add(route);
        this.#anyUsed = true;
      }
      for (const host of new Set(hosts)) {
        const wildcard = host.startsWith('*.');
        const map = wildcard ? this.#wildcards : this.#hosts;
        const key = wildcard ? host.slice(2) : host;
        let table = map.get(key);
        if (!table) {
          table = new PathTable();
          map.set(key, table);
        }
        table.add(route);
      }
    }
    for (const table of this.#hosts.values()) table.sort();
    for (const table of this.#wildcards.values()) table.sort();
    this.#any.sort();
  }

  /**
   * The route for a request: `host` lower-case without port (or `undefined`),
   * `path` normalised without query.
   */
  match(host: string | undefined, path: string, method: string, headers: IncomingHttpHeaders): RouteMatch | undefined {
    if (host !== undefined) {
      const exact = this.#hosts.get(host)?.match(path, method, headers);
      if (exact) return exact;
      if (this.#wildcards.size > 0) {
        let dot = host.indexOf('.');
        while (dot !== -1) {
          const found = this.#wildcards.get(host.slice(dot + 1))?.match(path, method, headers);
          if (found) return found;
          dot = host.indexOf('.', dot + 1);
        }
      }
    }
    return this.#anyUsed ? this.#any.match(path, method, headers) : undefined;
  }
}

/**
 * The host of a request for matching, from its validated authority
 * (`resolveTarget`: the `Host` header, or an absolute target's authority,
 * lower-cased): the port and a final dot dropped; `undefined` without one.
 *
 * @example
 * ```ts
 * import { requestHost } from 'switchyard-lb';
 * requestHost('api.example.com:8443'); // 'api.example.com'
 * ```
 */
export function requestHost(authority: string | undefined): string | undefined {
  if (authority === undefined || authority === '') return undefined;
  let host = authority;
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  if (colon !== -1) host = host.slice(0, colon);
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host === '' ? undefined : host;
}
