import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import process from 'node:process';
import type { Duplex } from 'node:stream';
import { createLoadBalancer, type ExpressMiddleware, type KoaMiddleware, type LoadBalancer } from './balancer.js';
import { ConfigError, makeError, type SwitchyardError } from './core/errors.js';
import type { EventName, SwitchyardEvents } from './core/events.js';
import { normalizePath, resolveTarget } from './core/net/request-target.js';
import { parseOptions } from './core/zod.js';
import type { LoadBalancerOptions } from './options/options.js';
import { refuseConnect } from './surfaces/extended-connect.js';
import type { BalancerStats } from './surfaces/metrics/stats.js';
import { createRouterAdmin, type RouterAdminOptions } from './surfaces/router/admin.js';
import { type CompiledRoute, RouteTable, requestHost } from './surfaces/router/match.js';
import { mergeExpositions } from './surfaces/router/metrics.js';
import { poolNameSchema, type ResolvedRoute, type RouteOptions, routesSchema } from './surfaces/router/options.js';
import { rewriteTarget } from './surfaces/router/path.js';

/** A pool given to the router: options it builds a balancer from, or a balancer you built. */
export type PoolInput = LoadBalancerOptions | LoadBalancer;

/** Options of {@link createRouter}. */
export interface RouterOptions {
  /** The routing rules; see {@link RouteTable} for the order of precedence. @default [] (every request gets 404) */
  routes?: readonly RouteOptions[];
  /** Named pools, each a full balancer with its own backends and policies. */
  pools: Readonly<Record<string, PoolInput>>;
}

/** Extra fields of the router's `request` event. */
export interface RoutedRequest {
  /** The pool that served it; `undefined` when no route matched. */
  pool: string | undefined;
  /** The route's name; `undefined` when none matched. */
  route: string | undefined;
  /** The request target as the client sent it, query included (may carry secrets: redact before logging). */
  target: string;
  /** The host matched against (lower case, no port), if any. */
  host: string | undefined;
  /** The connection's peer address (not `X-Forwarded-For`). */
  clientAddress: string;
  /** The `User-Agent` header. */
  userAgent: string | undefined;
  /** The `Referer` header. */
  referer: string | undefined;
  /** `'1.1'`, `'1.0'`... */
  httpVersion: string;
  /** Bytes read from the connection for this request (request line, headers, body), in bytes. */
  bytesIn: number;
  /** Bytes written to the connection for this response (status line, headers, body), in bytes. */
  bytesOut: number;
}

/**
 * Every event a router emits. Pool events carry the pool's name; `request`
 * adds the route, the original target, the client and byte counts.
 *
 * @example
 * ```ts
 * router.on('request', ({ route, pool, status }) => console.log(route, pool, status));
 * ```
 */
export type RouterEvents = {
  [E in Exclude<EventName, 'request' | 'closed'>]: SwitchyardEvents[E] & { pool: string };
} & {
  request: Omit<SwitchyardEvents['request'], 'backend' | 'attempts'> &
    Partial<Pick<SwitchyardEvents['request'], 'attempts'>> & { backend: string | undefined } & RoutedRequest;
  /** The route list changed (`setRoutes`). */
  'routes:changed': { routes: number };
  /** A pool joined (`addPool`) or was replaced (`replacePool`). */
  'pool:added': { pool: string; replaced: boolean };
  /** A pool left (`removePool`). */
  'pool:removed': { pool: string };
  /** The router closed. */
  closed: Record<string, never>;
};

/** Name of a router event. */
export type RouterEventName = keyof RouterEvents;

/** A listener of router event `E`. */
export type RouterListener<E extends RouterEventName> = (payload: RouterEvents[E]) => void;

/** A route as the router holds it: the validated options and the name. */
export type RouteInfo = ResolvedRoute & { readonly name: string };

/** What `router.match` found for a request. */
export interface RouterMatch {
  readonly route: RouteInfo;
  readonly pool: string;
  /** Pattern parameters (`:id`, `*`). */
  readonly params: Readonly<Record<string, string>>;
  /** The target the pool's backend gets (rewritten, or as sent). */
  readonly target: string;
}

/** Statistics over every pool. */
export interface RouterStats {
  readonly pools: Readonly<Record<string, BalancerStats>>;
  /** Requests no route matched (404 `ERR_NO_ROUTE`), since the router was built. */
  readonly unrouted: number;
}

/**
 * A router: host, path, method and header rules sending each request to a
 * named pool (a full balancer). Mount it like a balancer.
 */
export interface Router {
  /**
   * `(req, res)` handler for `http.createServer`, `https.createServer`, and
   * `http2.createServer`/`http2.createSecureServer` (routing by `:authority`;
   * see docs/http2.md). Resolves when the response is over.
   */
  readonly handler: (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ) => Promise<void>;
  /** `'upgrade'` listener (WebSockets): routed like a request. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * `'connect'` listener of an HTTP/2 server, for WebSockets over HTTP/2
   * (RFC 8441; the server needs `settings: { enableConnectProtocol: true }`):
   * routed as the `GET` it becomes upstream, then the pool's `lb.connect`.
   * Any other CONNECT gets 501 `ERR_NOT_IMPLEMENTED`.
   */
  readonly connect: (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse | Duplex,
    head?: Buffer,
  ) => void;
  /**
   * Express middleware. `keepMountPath` matches (and forwards) the full
   * original URL; `fallthrough` calls `next()` when no route matches instead of answering 404.
   */
  express(options?: { keepMountPath?: boolean; fallthrough?: boolean }): ExpressMiddleware;
  /** Koa middleware: the router answers the request itself (`ctx.respond = false`). */
  koa(): KoaMiddleware;
  /** Replaces every route at once; validated first (a bad list throws `ConfigError` and changes nothing). */
  setRoutes(routes: readonly RouteOptions[]): void;
  /** The routes, in list order, with their names. */
  routes(): readonly RouteInfo[];
  /** Adds a pool; throws `ERR_DUPLICATE_POOL` on a taken name, `ConfigError` on bad options. */
  addPool(name: string, pool: PoolInput): LoadBalancer;
  /**
   * Puts a new balancer in place of a pool: new requests go to it at once,
   * the old one is closed (in-flight requests finish, up to its `drainTimeout`).
   */
  replacePool(name: string, pool: PoolInput): Promise<LoadBalancer>;
  /** Removes a pool no route uses (`ConfigError` otherwise) and closes it, draining. */
  removePool(name: string): Promise<void>;
  /** A pool's balancer, to manage its backends. */
  pool(name: string): LoadBalancer | undefined;
  /** The pool names. */
  poolNames(): string[];
  /** The route a request would take (`undefined`: it would get 404). */
  match(req: Pick<IncomingMessage, 'url' | 'method' | 'headers'>): RouterMatch | undefined;
  /** `(req, res)` handler serving every pool's metrics (each sample labelled `pool`), or {@link stats} at `?format=json`. */
  readonly metricsHandler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Statistics of every pool. */
  stats(): RouterStats;
  /**
   * The router's admin API (`GET /routes`, `PUT /routes`, `GET /pools`,
   * `POST /pools`, `DELETE /pools/:name`, and each pool's own admin API under
   * `/pools/:name/`), behind `Authorization: Bearer <token>`.
   */
  admin(options: RouterAdminOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  on<E extends RouterEventName>(event: E, listener: RouterListener<E>): this;
  once<E extends RouterEventName>(event: E, listener: RouterListener<E>): this;
  off<E extends RouterEventName>(event: E, listener: RouterListener<E>): this;
  /** Closes every pool (each drains its in-flight requests). */
  close(): Promise<void>;
}

const ROUTER_ONLY = new Set<string>(['request', 'routes:changed', 'pool:added', 'pool:removed', 'closed']);

function isBalancer(input: PoolInput): input is LoadBalancer {
  return typeof (input as LoadBalancer).handler === 'function' && typeof (input as LoadBalancer).close === 'function';
}

/** Per-connection byte counters at the end of its previous response. */
const baselines = new WeakMap<object, { read: number; written: number }>();

/**
 * The authority a request names: HTTP/2's `:authority` (RFC 9113 §8.3.1; the
 * compatibility API shows it among the headers), else `Host`. A `Host` that
 * differs from `:authority` is the balancer's to refuse (400).
 */
function authorityOf(headers: IncomingMessage['headers']): string | undefined {
  const authority = headers[':authority'];
  return typeof authority === 'string' ? authority : headers.host;
}

/** The host of a request that was not routed (for its event), if it has a valid one. */
function hostOf(header: string | undefined, target: string): string | undefined {
  const resolved = resolveTarget(target, header);
  return typeof resolved === 'string' ? undefined : requestHost(resolved.authority);
}

function noRoute(): SwitchyardError {
  return makeError('ERR_NO_ROUTE', 'no route matches this request');
}

/**
 * Builds a router over named pools. Each pool is a full balancer (built
 * with `createLoadBalancer` from its options, or given built); routes send
 * requests to pools by host (exact, `*.example.com`), path (`prefix`,
 * `exact`, `pattern`), method and headers, matched against the normalised
 * path. Nothing matching and no default route (one without conditions):
 * 404 `ERR_NO_ROUTE`.
 *
 * @example
 * ```ts
 * import { createRouter } from 'switchyard-lb';
 * const router = createRouter({
 *   pools: {
 *     api: { backends: [{ url: 'http://10.0.0.1:8080' }] },
 *     web: { backends: [{ url: 'http://10.0.0.2:8080' }] },
 *   },
 *   routes: [
 *     { host: 'api.example.com', pool: 'api' },
 *     { prefix: '/static', rewrite: { stripPrefix: true }, pool: 'web' },
 *     { pool: 'web' }, // default route
 *   ],
 * });
 * http.createServer(router.handler).listen(8080);
 * ```
 */
export function createRouter(options: RouterOptions): Router {
  if (options === null || typeof options !== 'object') throw new ConfigError('', options, 'router options');
  if (options.pools === null || typeof options.pools !== 'object' || Array.isArray(options.pools)) {
    throw new ConfigError('pools', options.pools, 'an object of named pools');
  }
  const emitter = new EventEmitter({ captureRejections: false });
  emitter.setMaxListeners(0);
  const pools = new Map<string, LoadBalancer>();
  /** Pool events forwarded so far (each pool gets a forwarder per name someone listens to). */
  const forwarded = new Set<EventName>();
  const unhook = new Map<LoadBalancer, (() => void)[]>();
  let table = new RouteTable([]);
  let unrouted = 0;
  let closed = false;
  // The last `request` event of a pool. A balancer emits it from its response's
  // 'close' listener, registered just before the router's own, so the router's
  // listener reads the payload of the same request (the two run back to back).
  let captured: SwitchyardEvents['request'] | undefined;

  function emit<E extends RouterEventName>(event: E, payload: RouterEvents[E]): void {
    if (emitter.listenerCount(event) === 0) return;
    try {
      emitter.emit(event, payload);
    } catch (error) {
      process.emitWarning(`switchyard: a router '${event}' listener threw: ${String(error)}`, 'SwitchyardWarning');
    }
  }

  function hook(name: string, lb: LoadBalancer, event: EventName): void {
    const listener = (payload: object) =>
      emit(event as Exclude<EventName, 'request'>, { ...payload, pool: name } as never);
    lb.on(event, listener as never);
    unhook.get(lb)?.push(() => lb.off(event, listener as never));
  }

  function attach(name: string, lb: LoadBalancer): void {
    const capture = (payload: SwitchyardEvents['request']) => {
      captured = payload;
    };
    lb.on('request', capture);
    unhook.set(lb, [() => lb.off('request', capture)]);
    for (const event of forwarded) hook(name, lb, event);
  }

  function detach(lb: LoadBalancer): void {
    for (const off of unhook.get(lb) ?? []) off();
    unhook.delete(lb);
  }

  function build(name: string, input: PoolInput): LoadBalancer {
    parseOptions(poolNameSchema, name, 'pools');
    if (input === null || typeof input !== 'object')
      throw new ConfigError(`pools.${name}`, input, 'pool options or a balancer');
    if (isBalancer(input)) return input;
    try {
      return createLoadBalancer(input);
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new ConfigError(
          error.path ? `pools.${name}.${error.path}` : `pools.${name}`,
          error.value,
          error.expected,
        );
      }
      throw error;
    }
  }

  function compile(routes: readonly RouteOptions[], known: (pool: string) => boolean): RouteTable {
    const resolved = parseOptions(routesSchema, routes, 'routes');
    resolved.forEach((route, i) => {
      if (!known(route.pool))
        throw new ConfigError(
          `routes[${i}].pool`,
          route.pool,
          `the name of a pool (${[...pools.keys()].join(', ') || 'none defined'})`,
        );
    });
    return new RouteTable(resolved);
  }

  // Build every pool first; on a bad one, close those already built.
  try {
    for (const [name, input] of Object.entries(options.pools)) {
      const lb = build(name, input);
      pools.set(name, lb);
      attach(name, lb);
    }
    table = compile(options.routes ?? [], (p) => pools.has(p));
  } catch (error) {
    for (const lb of pools.values()) lb.close().catch(() => {});
    throw error;
  }

  function info(route: CompiledRoute): RouteInfo {
    return { ...route.options, name: route.name };
  }

  interface Found {
    route: CompiledRoute;
    lb: LoadBalancer;
    host: string | undefined;
    target: string;
    params: Readonly<Record<string, string>>;
  }

  /** Routes a request; `undefined`: no route. Throws `ERR_BAD_REQUEST` for a target that is not a path. */
  function find(target: string, method: string, headers: IncomingMessage['headers']): Found | undefined {
    const resolved = resolveTarget(target, authorityOf(headers));
    if (typeof resolved === 'string') throw makeError('ERR_BAD_REQUEST', resolved);
    const path = normalizePath(resolved.path);
    const host = requestHost(resolved.authority);
    const found = table.match(host, path, method, headers);
    if (!found) return undefined;
    const { route } = found;
    const lb = pools.get(route.pool);
    if (!lb) return undefined;
    const rewritten =
      route.replacement === undefined ? target : rewriteTarget(target, path, found.matched, route.replacement);
    return { route, lb, host, target: rewritten, params: found.params };
  }

  function reject(res: ServerResponse, error: SwitchyardError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = JSON.stringify(error.toJSON());
    res.writeHead(error.status ?? 500, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(body);
  }

  function dispatch(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
    const started = performance.now();
    const socket = req.socket as { bytesRead?: number; bytesWritten?: number } | null;
    let found: Found | undefined;
    let failure: SwitchyardError | undefined;
    try {
      if (closed) failure = makeError('ERR_CLOSED', 'the router is shutting down');
      else found = find(target, req.method ?? 'GET', req.headers);
      if (!found && !failure) failure = noRoute();
    } catch (error) {
      failure = error as SwitchyardError;
    }
    let done: Promise<void>;
    if (found) {
      captured = undefined;
      if (found.target !== target) req.url = found.target;
      done = found.lb.handler(req, res);
    } else {
      if (failure?.code === 'ERR_NO_ROUTE') unrouted++;
      reject(res, failure as SwitchyardError);
      done = new Promise<void>((resolve) => res.once('close', resolve));
    }
    const chosen = found;
    res.once('close', () => {
      const pool = captured;
      captured = undefined;
      const base = socket ? baselines.get(socket) : undefined;
      const read = socket?.bytesRead ?? 0;
      const written = socket?.bytesWritten ?? 0;
      if (socket) baselines.set(socket, { read, written });
      if (emitter.listenerCount('request') === 0) return;
      const query = target.indexOf('?');
      emit('request', {
        method: req.method ?? 'GET',
        path: pool?.path ?? (query === -1 ? target : target.slice(0, query)),
        requestId: pool?.requestId,
        traceId: pool?.traceId,
        backend: pool?.backend,
        status: pool?.status ?? (res.writableFinished ? res.statusCode : 499),
        durationMs: pool?.durationMs ?? performance.now() - started,
        attempts: pool?.attempts ?? 0,
        ...(pool
          ? pool.error === undefined
            ? {}
            : { error: pool.error }
          : { error: failure?.code ?? 'ERR_INTERNAL' }),
        ...(pool?.grpcStatus === undefined ? {} : { grpcStatus: pool.grpcStatus }),
        pool: chosen?.route.pool,
        route: chosen?.route.name,
        target,
        host: chosen?.host ?? hostOf(authorityOf(req.headers), target),
        clientAddress: req.socket?.remoteAddress ?? '',
        userAgent: req.headers['user-agent'],
        referer: req.headers.referer,
        httpVersion: req.httpVersion,
        bytesIn: read - (base?.read ?? 0),
        bytesOut: written - (base?.written ?? 0),
      });
    });
    return done;
  }

  // The HTTP/2 compatibility API's request and response are used through what they share with node:http's.
  const handler: Router['handler'] = (req, res) =>
    dispatch(req as IncomingMessage, res as ServerResponse, req.url ?? '/');

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {});
    let found: Found | undefined;
    let failure: SwitchyardError | undefined;
    try {
      if (closed) failure = makeError('ERR_CLOSED', 'the router is shutting down');
      else found = find(req.url ?? '/', req.method ?? 'GET', req.headers);
    } catch (error) {
      failure = error as SwitchyardError;
    }
    if (found) {
      if (found.target !== req.url) req.url = found.target;
      found.lb.upgrade(req, socket, head);
      return;
    }
    const error = failure ?? noRoute();
    if (error.code === 'ERR_NO_ROUTE') unrouted++;
    const body = JSON.stringify(error.toJSON());
    socket.end(
      `HTTP/1.1 ${error.status ?? 500} ${error.status === 404 ? 'Not Found' : 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };

  function addPool(name: string, input: PoolInput): LoadBalancer {
    if (closed) throw makeError('ERR_CLOSED', 'the router is closed');
    if (pools.has(name)) throw makeError('ERR_DUPLICATE_POOL', `a pool named ${JSON.stringify(name)} already exists`);
    const lb = build(name, input);
    pools.set(name, lb);
    attach(name, lb);
    emit('pool:added', { pool: name, replaced: false });
    return lb;
  }

  async function replacePool(name: string, input: PoolInput): Promise<LoadBalancer> {
    const old = pools.get(name);
    if (!old) throw makeError('ERR_POOL_NOT_FOUND', `no pool named ${JSON.stringify(name)}`);
    const lb = build(name, input);
    if (lb === old) return lb;
    pools.set(name, lb);
    attach(name, lb);
    emit('pool:added', { pool: name, replaced: true });
    // In-flight requests of the old balancer still emit through it: unhook only once it is closed.
    await old.close();
    detach(old);
    return lb;
  }

  async function removePool(name: string): Promise<void> {
    const lb = pools.get(name);
    if (!lb) throw makeError('ERR_POOL_NOT_FOUND', `no pool named ${JSON.stringify(name)}`);
    const user = table.routes.find((r) => r.pool === name);
    if (user) throw new ConfigError(`pools.${name}`, name, `a pool no route uses (route ${user.name} does)`);
    pools.delete(name);
    emit('pool:removed', { pool: name });
    await lb.close();
    detach(lb);
  }

  async function metricsText(): Promise<string> {
    const parts: [string, string][] = [];
    for (const [name, lb] of pools) {
      if (lb.metricsRegistry) parts.push([name, await lb.metricsRegistry.metrics()]);
    }
    return mergeExpositions(parts);
  }

  function stats(): RouterStats {
    const out: Record<string, BalancerStats> = {};
    for (const [name, lb] of pools) out[name] = lb.stats();
    return { pools: out, unrouted };
  }

  const connect: Router['connect'] = (req, res) => {
    if (refuseConnect(req, res)) return;
    const request = req as IncomingMessage;
    let found: Found | undefined;
    let failure: SwitchyardError | undefined;
    try {
      if (closed) failure = makeError('ERR_CLOSED', 'the router is shutting down');
      // A WebSocket over HTTP/2 reaches its backend as a GET: routes with `methods` see that.
      else found = find(request.url ?? '/', 'GET', request.headers);
    } catch (error) {
      failure = error as SwitchyardError;
    }
    if (found) {
      if (found.target !== request.url) request.url = found.target;
      found.lb.connect(req, res);
      return;
    }
    const error = failure ?? noRoute();
    if (error.code === 'ERR_NO_ROUTE') unrouted++;
    reject(res as ServerResponse, error);
  };

  const router: Router = {
    handler,
    upgrade,
    connect,
    express({ keepMountPath = false, fallthrough = false } = {}) {
      return function switchyardRouter(req, res, next) {
        const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl;
        const target = keepMountPath && original ? original : (req.url ?? '/');
        if (fallthrough) {
          let found: Found | undefined;
          try {
            found = find(target, req.method ?? 'GET', req.headers);
          } catch {
            found = undefined;
          }
          if (!found) {
            next();
            return;
          }
        }
        if (keepMountPath) req.url = target;
        dispatch(req, res, target).catch(next);
      };
    },
    koa() {
      return async function switchyardRouter(ctx) {
        ctx.respond = false;
        await dispatch(ctx.req, ctx.res, ctx.req.url ?? '/');
      };
    },
    setRoutes(routes) {
      table = compile(routes, (p) => pools.has(p));
      emit('routes:changed', { routes: table.routes.length });
    },
    routes: () => table.routes.map(info),
    addPool,
    replacePool,
    removePool,
    pool: (name) => pools.get(name),
    poolNames: () => [...pools.keys()],
    match(req) {
      let found: Found | undefined;
      try {
        found = find(req.url ?? '/', req.method ?? 'GET', req.headers);
      } catch {
        return undefined;
      }
      return found && { route: info(found.route), pool: found.route.pool, params: found.params, target: found.target };
    },
    async metricsHandler(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 }).end();
        return;
      }
      const json = /[?&]format=json(?:&|$)/.test(req.url ?? '');
      let body: string;
      try {
        body = json ? JSON.stringify(stats()) : await metricsText();
      } catch {
        res.writeHead(500, { 'content-length': 0 }).end();
        return;
      }
      res.writeHead(200, {
        'content-type': json ? 'application/json' : 'text/plain; version=0.0.4; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
    stats,
    admin: (adminOptions) => createRouterAdmin(router, adminOptions),
    on(event, listener) {
      if (!ROUTER_ONLY.has(event) && !forwarded.has(event as EventName)) {
        forwarded.add(event as EventName);
        for (const [name, lb] of pools) hook(name, lb, event as EventName);
      }
      emitter.on(event, listener as (payload: unknown) => void);
      return router;
    },
    once(event, listener) {
      const wrapped = ((payload: RouterEvents[typeof event]) => {
        router.off(event, wrapped);
        listener(payload);
      }) as typeof listener;
      return router.on(event, wrapped);
    },
    off(event, listener) {
      emitter.off(event, listener as (payload: unknown) => void);
      return router;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...pools.values()].map((lb) => lb.close()));
      for (const lb of pools.values()) detach(lb);
      emit('closed', {});
      emitter.removeAllListeners();
    },
  };
  return router;
}
