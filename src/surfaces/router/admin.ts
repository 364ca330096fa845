import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BackendSnapshot } from '../../core/backend.js';
import { ConfigError, makeError } from '../../core/errors.js';
import { parseOptions } from '../../core/zod.js';
import { bearerCheck } from '../admin/auth.js';
import { readJsonBody } from '../admin/body.js';
import { createDashboard } from '../admin/dashboard.js';
import type { AdminOptions } from '../admin/handler.js';
import { adminOptionsSchema, adminTarget, dashboardPath, healthSummary, send, sendError } from '../admin/handler.js';
import type { LiveStatsSource } from '../admin/live-stats.js';
import type { RouteOptions } from './options.js';

/** Options of `router.admin()`: the same as a balancer's admin API. */
export type RouterAdminOptions = AdminOptions;

/** What the router's admin API needs of one pool (a balancer). */
export interface PoolControl {
  backends(): BackendSnapshot[];
  readonly pipeline: readonly string[];
  admin(options: AdminOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/**
 * What the router's admin API drives: a `Router` is one. Declared here so
 * the API depends on this interface, not on the router's module.
 */
export interface RouterControl {
  routes(): readonly (RouteOptions & { readonly name: string })[];
  setRoutes(routes: readonly RouteOptions[]): void;
  poolNames(): string[];
  pool(name: string): PoolControl | undefined;
  addPool(name: string, options: never): unknown;
  removePool(name: string): Promise<void>;
  /** The router's events (each pool's carry `pool`): the dashboard charts its pool's. */
  on(event: never, listener: never): unknown;
  off(event: never, listener: never): unknown;
}

/** The router's own routes, and the balancer admin routes the dashboard reaches on its pool. */
const ROUTER_PATHS = ['/routes', '/pools', '/health'];
const POOL_PATHS = ['/backends', '/config', '/rollout', '/rollout/status', '/rollout/cancel', '/rollback', '/metrics'];

/** The pool the dashboard shows: `default` (the CLI's top-level backends) when there is one, else the first. */
function dashboardPool(router: RouterControl): string | undefined {
  const names = router.poolNames();
  return names.includes('default') ? 'default' : names[0];
}

/** The router's events, narrowed to those of the dashboard's pool. */
function poolEvents(router: RouterControl): LiveStatsSource {
  const wrapped = new Map<unknown, (payload: never) => void>();
  return {
    on(event, listener) {
      const only = (payload: never) => {
        // The router's own `closed` (no pool) ends the history too.
        if (event === 'closed' || (payload as { pool?: unknown }).pool === dashboardPool(router)) listener(payload);
      };
      wrapped.set(listener, only);
      return router.on(event as never, only as never);
    },
    off(event, listener) {
      const only = wrapped.get(listener);
      if (!only) return undefined;
      wrapped.delete(listener);
      return router.off(event as never, only as never);
    },
  };
}

function notFound() {
  return makeError('ERR_NOT_FOUND', 'no such admin route');
}

function methodNotAllowed(method: string | undefined, allow: string) {
  return Object.assign(makeError('ERR_METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allow}`), { allow });
}

function poolJson(router: RouterControl, name: string): Record<string, unknown> {
  const lb = router.pool(name);
  if (!lb) throw makeError('ERR_POOL_NOT_FOUND', `no pool named ${JSON.stringify(name)}`);
  const backends = lb.backends();
  return {
    name,
    routes: router
      .routes()
      .filter((r) => r.pool === name)
      .map((r) => r.name),
    pipeline: lb.pipeline,
    health: healthSummary(backends),
    backends: backends.map((b) => ({
      ...b,
      maxConnections: Number.isFinite(b.maxConnections) ? b.maxConnections : null,
    })),
  };
}

/**
 * The router's admin API (JSON, bearer token, same rules as a balancer's):
 *
 * - `GET /routes`: the routes in order, with names; `PUT /routes` with
 *   `{ "routes": [...] }` replaces them (400 naming the path when invalid).
 * - `GET /pools`: each pool with its routes, health summary and backends;
 *   `POST /pools` with `{ "name", "options" }` adds one (201); `GET
 *   /pools/:name` shows one; `DELETE /pools/:name` removes one no route uses.
 * - `/pools/:name/...`: that pool's own admin API (`/backends`, `/config`,
 *   `/rollout`, `/health`, `/metrics`...).
 * - `GET /health`: 200 when every pool has an available backend, else 503.
 * - With `dashboard`, the web dashboard (docs/dashboard.md) and its session
 *   cookie, CSRF and CSP rules as on a balancer's admin API; it shows the
 *   routes, the pools and one pool's backends (`default`, else the first):
 *   that pool's `/backends`, `/config`, `/rollout`... answer at the top level
 *   too, with its traffic at `GET /stats` and `GET /events`.
 *
 * @example
 * ```ts
 * http.createServer(router.admin({ token })).listen(9901, '127.0.0.1');
 * ```
 */
export function createRouterAdmin(
  router: RouterControl,
  input: RouterAdminOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const options = parseOptions(adminOptionsSchema, input ?? {}, 'admin');
  const authorized = bearerCheck(options.token);
  const poolAdmins = new Map<unknown, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();

  function poolAdmin(name: string) {
    const lb = router.pool(name);
    if (!lb) throw makeError('ERR_POOL_NOT_FOUND', `no pool named ${JSON.stringify(name)}`);
    let admin = poolAdmins.get(lb);
    if (!admin) {
      admin = lb.admin({ token: options.token, maxBodyBytes: options.maxBodyBytes });
      poolAdmins.set(lb, admin);
    }
    return admin;
  }

  const dashboard = options.dashboard
    ? createDashboard({
        token: options.token,
        prefix: options.prefix,
        options: options.dashboard,
        source: poolEvents(router),
        backends: () => {
          const name = dashboardPool(router);
          return (name === undefined ? undefined : router.pool(name)?.backends()) ?? [];
        },
        paths: () => [...ROUTER_PATHS, ...(dashboardPool(router) === undefined ? [] : POOL_PATHS), '/stats', '/events'],
      })
    : undefined;

  /** Runs a pool's admin API on `rest`; a dashboard session stands in for the bearer token it checks. */
  async function forward(
    admin: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
    req: IncomingMessage,
    res: ServerResponse,
    rest: string,
    session: boolean,
  ) {
    const original = req.url;
    const authorization = req.headers.authorization;
    req.url = rest;
    if (session) req.headers.authorization = `Bearer ${options.token}`;
    try {
      await admin(req, res);
    } finally {
      req.url = original;
      if (session) req.headers.authorization = authorization;
    }
  }

  return async function routerAdmin(req, res) {
    try {
      let session = false;
      if (dashboard) {
        const raw = req.url ?? '/';
        const full = new URL(`http://admin.invalid${raw.startsWith('/') ? raw : `/${raw}`}`);
        // The dashboard serves its page and sessions itself, and may vouch for a session cookie.
        const decision = await dashboard.intercept(req, res, dashboardPath(full, options.prefix));
        if (decision === 'handled') return;
        session = decision === 'session';
      }
      const target = adminTarget(req, res, session ? () => true : authorized, options.prefix);
      if (!target) return;
      const { url, path } = target;
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const parts = path.split('/');
      if (path === '/routes') {
        if (method === 'GET') return send(res, 200, { routes: router.routes() });
        if (method !== 'PUT') throw methodNotAllowed(req.method, 'GET, HEAD, PUT');
        const body = (await readJsonBody(req, options.maxBodyBytes)) as { routes?: unknown } | null;
        if (body === null || typeof body !== 'object' || !Array.isArray(body.routes)) {
          throw new ConfigError('routes', body?.routes, 'a body { "routes": [...] }');
        }
        router.setRoutes(body.routes as never);
        return send(res, 200, { routes: router.routes() });
      }
      if (path === '/pools') {
        if (method === 'GET') return send(res, 200, { pools: router.poolNames().map((n) => poolJson(router, n)) });
        if (method !== 'POST') throw methodNotAllowed(req.method, 'GET, HEAD, POST');
        const body = (await readJsonBody(req, options.maxBodyBytes)) as { name?: unknown; options?: unknown } | null;
        if (body === null || typeof body !== 'object' || typeof body.name !== 'string') {
          throw new ConfigError('name', body?.name, 'a body { "name": "...", "options": { "backends": [...] } }');
        }
        const poolOptions = body.options ?? {};
        if (typeof poolOptions !== 'object' || Array.isArray(poolOptions)) {
          throw new ConfigError('options', poolOptions, 'balancer options');
        }
        router.addPool(body.name, poolOptions as never);
        return send(res, 201, { pool: poolJson(router, body.name) });
      }
      if (path === '/health') {
        if (method !== 'GET') throw methodNotAllowed(req.method, 'GET, HEAD');
        const pools = router
          .poolNames()
          .map((name) => ({ name, ...healthSummary(router.pool(name)?.backends() ?? []) }));
        const ok = pools.every((p) => p.status === 'ok');
        return send(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', pools });
      }
      if (parts[1] === 'pools' && parts[2]) {
        let name: string;
        try {
          name = decodeURIComponent(parts[2]);
        } catch {
          throw makeError('ERR_BAD_REQUEST', 'the path is not valid percent-encoding');
        }
        if (parts.length === 3) {
          if (method === 'GET') return send(res, 200, { pool: poolJson(router, name) });
          if (method !== 'DELETE') throw methodNotAllowed(req.method, 'GET, HEAD, DELETE');
          await router.removePool(name);
          return send(res, 200, { removed: name });
        }
        // The rest is the pool's own admin API, below /pools/:name.
        const admin = poolAdmin(name);
        await forward(admin, req, res, `/${parts.slice(3).join('/')}${url.search}`, session);
        return;
      }
      if (dashboard) {
        if (path === '/stats' || path === '/events') {
          if (method !== 'GET') throw methodNotAllowed(req.method, 'GET, HEAD');
          const after = Number(url.searchParams.get('after')) || 0;
          return send(res, 200, path === '/stats' ? dashboard.live.stats() : dashboard.live.events(after));
        }
        const name = dashboardPool(router);
        if (name !== undefined && (POOL_PATHS.includes(path) || path.startsWith('/backends/'))) {
          await forward(poolAdmin(name), req, res, `${path}${url.search}`, session);
          return;
        }
      }
      throw notFound();
    } catch (error) {
      sendError(res, error);
    }
  };
}
