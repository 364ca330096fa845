import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { ControlPlane } from '../../control/control-plane.js';
import type { RolloutOptions } from '../../control/rollout/options.js';
import type { BackendSnapshot, BackendStatus } from '../../core/backend.js';
import { parseDuration } from '../../core/duration.js';
import { ConfigError, type ErrorCode, makeError, SwitchyardError } from '../../core/errors.js';
import { parseOptions, positiveInt } from '../../core/zod.js';
import { bearerCheck } from './auth.js';
import { readJsonBody } from './body.js';
import { createDashboard, type DashboardOptions, dashboardOptionsSchema } from './dashboard.js';
import { jsonSafeConfig } from './json-config.js';
import type { LiveStatsSource } from './live-stats.js';

/** Options of `lb.admin()`. */
export const adminOptionsSchema = z.strictObject({
  /**
   * The bearer token every request must carry (`Authorization: Bearer
   * <token>`): at least 16 visible ASCII characters, e.g. 32 random bytes in
   * base64url. Required: without it the admin API does not exist.
   */
  token: z
    .string()
    .min(16, { error: 'a token of at least 16 characters (e.g. 32 random bytes, base64url)' })
    .max(4096)
    .regex(/^[\x21-\x7e]+$/, { error: 'visible ASCII characters without spaces' }),
  /** Largest request body, in bytes (1 to 64 MiB). @default 1048576 (1 MiB) */
  maxBodyBytes: positiveInt()
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /**
   * Path prefix to strip when the handler is mounted on a plain server under
   * a path (`'/admin'`); requests outside it get 404. Under Express
   * (`app.use('/admin', ...)`) the mount path is already stripped: leave it out.
   * @default none
   */
  prefix: z
    .string()
    .regex(/^\/[\w./~-]*$/, { error: 'a path starting with "/"' })
    .transform((p) => p.replace(/\/+$/, ''))
    .optional(),
  /**
   * Serve the web dashboard at `<admin root>/dashboard/`, with cookie
   * sessions opened by the token, CSRF checks on every mutation, and the
   * traffic history behind `GET /stats` and `GET /events` (see
   * docs/dashboard.md). `true` or `{ sessionIdleTimeout, sessionLifetime,
   * secureCookie, assets }`.
   * @default false
   */
  dashboard: dashboardOptionsSchema.default(false),
});

/**
 * Options of `lb.admin()`, as given.
 */
export interface AdminOptions {
  /**
   * The bearer token every request must carry (`Authorization: Bearer
   * <token>`): 16 to 4096 visible ASCII characters, e.g. 32 random bytes in
   * base64url. Required.
   */
  token: string;
  /** Largest request body, in bytes (1 to 64 MiB). @default 1048576 (1 MiB) */
  maxBodyBytes?: number | undefined;
  /**
   * Path prefix to strip when the handler is mounted on a plain server under
   * a path (`'/admin'`); requests outside it get 404. Leave it out under
   * Express (`app.use('/admin', ...)`). @default none
   */
  prefix?: string | undefined;
  /**
   * Serve the web dashboard at `<admin root>/dashboard/` (see
   * docs/dashboard.md): `true`, or {@link DashboardOptions}. @default false
   */
  dashboard?: boolean | DashboardOptions | undefined;
}

/** The admin API: a Node `(req, res)` handler, also usable as Express middleware. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** What the admin API drives. */
export interface AdminDeps {
  /** The control operations (backends, configuration, rollouts): an interface, not the balancer. */
  readonly control: ControlPlane;
  /** The balancer's events: the dashboard's traffic history and recent events come from them. */
  readonly events: LiveStatsSource;
  /**
   * Serves the metrics behind the admin token (the metrics' own token does not
   * apply: the admin API already checked its caller); unset with `metrics: false`.
   */
  readonly metrics?: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
}

/** Counts of backends by state and the verdict of `GET /health`. */
export interface HealthSummary {
  /** `ok` when at least one backend is available (healthy), else `unavailable`. */
  readonly status: 'ok' | 'unavailable';
  readonly backends: { readonly total: number; readonly available: number } & Record<BackendStatus, number>;
  /** The running rollout, if any. */
  readonly rollout?: { readonly id: string; readonly phase: string; readonly batch: number; readonly batches: number };
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Params = { readonly id?: string };
interface Call {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Params;
  readonly query: URLSearchParams;
  readonly body: unknown;
}
interface Route {
  /** Handler, and whether it reads a JSON body. */
  readonly methods: Partial<
    Record<Method, { readonly body: boolean; readonly run: (call: Call) => Promise<void> | void }>
  >;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  ERR_CONFIG: 400,
  ERR_BACKEND_NOT_FOUND: 404,
  ERR_DUPLICATE_BACKEND: 409,
  ERR_POOL_NOT_FOUND: 404,
  ERR_DUPLICATE_POOL: 409,
};

/**
 * Builds the admin API (see README "Admin API"). JSON in and out; every
 * request needs the bearer token (401 otherwise, with no detail); a body
 * must be `application/json` (415) within `maxBodyBytes` (413); unknown
 * paths get 404, known paths with another method 405 with `Allow`.
 *
 * @example
 * ```ts
 * import { createAdminHandler } from './handler.js';
 * declare const { control, events }: import('./handler.js').AdminDeps;
 * http.createServer(createAdminHandler({ control, events }, { token })).listen(9901, '127.0.0.1');
 * ```
 */
export function createAdminHandler(deps: AdminDeps, input: AdminOptions | undefined): AdminHandler {
  const options = parseOptions(adminOptionsSchema, input ?? {}, 'admin');
  const authorized = bearerCheck(options.token);
  const { control } = deps;
  const { rollouts } = control;
  const dashboard = options.dashboard
    ? createDashboard({
        token: options.token,
        prefix: options.prefix,
        options: options.dashboard,
        source: deps.events,
        backends: () => control.backends(),
        paths: () => Object.keys(routes),
      })
    : undefined;

  function findBackend(id: string | undefined): BackendSnapshot {
    const found = control.backends().find((b) => b.id === id);
    if (!found) throw makeError('ERR_BACKEND_NOT_FOUND', `no backend with id ${JSON.stringify(id)}`);
    return found;
  }

  function rolloutBody(): { rollout: ReturnType<ControlPlane['rollouts']['status']> } {
    return { rollout: rollouts.status() };
  }

  const routes: Record<string, Route> = {
    '/backends': {
      methods: {
        GET: { body: false, run: ({ res }) => send(res, 200, { backends: control.backends().map(backendJson) }) },
        POST: {
          body: true,
          run: ({ res, body }) => send(res, 201, { backend: backendJson(control.addBackend(body as never)) }),
        },
      },
    },
    '/backends/:id': {
      methods: {
        GET: {
          body: false,
          run: ({ res, params }) => send(res, 200, { backend: backendJson(findBackend(params.id)) }),
        },
        PATCH: {
          body: true,
          run: ({ res, params, body }) => {
            findBackend(params.id);
            send(res, 200, { backend: backendJson(control.updateBackend(params.id as string, backendUpdate(body))) });
          },
        },
        DELETE: {
          body: false,
          run: async ({ res, params, query }) => {
            findBackend(params.id);
            const drain = flag(query, 'drain', true);
            const result = await control.removeBackend(params.id as string, { drain, timeout: timeoutParam(query) });
            send(res, 200, { ...result, backend: backendJson(result.backend) });
          },
        },
      },
    },
    '/backends/:id/drain': {
      methods: {
        POST: {
          body: false,
          run: ({ res, params, query }) => {
            findBackend(params.id);
            const timeout = timeoutParam(query);
            // Removal finishes in the background; progress shows in GET /backends (status 'draining', then gone).
            control.removeBackend(params.id as string, { drain: true, timeout }).catch(() => {});
            // Without requests in flight it is gone already.
            const backend = control.backends().find((b) => b.id === params.id);
            send(res, 202, { backend: backend ? backendJson(backend) : null, removed: backend === undefined });
          },
        },
      },
    },
    '/config': {
      methods: {
        GET: { body: false, run: ({ res }) => send(res, 200, { config: jsonSafeConfig(control.config) }) },
        PATCH: {
          body: true,
          run: ({ res, body }) => {
            control.configure(body as never);
            send(res, 200, { config: jsonSafeConfig(control.config) });
          },
        },
      },
    },
    '/rollout': {
      methods: {
        GET: {
          body: false,
          run: ({ res }) => {
            if (!rollouts.status()) throw noRollout('no rollout has run yet', 404);
            send(res, 200, rolloutBody());
          },
        },
        POST: {
          body: true,
          run: ({ res, body }) => {
            // Settles on its own; progress is read back through GET /rollout.
            rollouts.start(body as RolloutOptions).done.catch(() => {});
            send(res, 202, rolloutBody());
          },
        },
      },
    },
    '/rollout/status': {
      methods: {
        // Like GET /rollout, but 200 with `rollout: null` before the first one (for pollers).
        GET: { body: false, run: ({ res }) => send(res, 200, { rollout: rollouts.status() ?? null }) },
      },
    },
    '/rollout/cancel': {
      methods: {
        POST: {
          body: false,
          run: ({ res }) => {
            if (!rollouts.cancel('cancelled through the admin API')) throw noRollout('no rollout is running', 409);
            send(res, 202, rolloutBody());
          },
        },
      },
    },
    '/rollback': {
      methods: {
        POST: {
          body: false,
          run: ({ res }) => {
            rollouts.startRollback().done.catch(() => {});
            send(res, 202, rolloutBody());
          },
        },
      },
    },
    '/health': {
      methods: {
        GET: {
          body: false,
          run: ({ res }) => {
            const summary = healthSummary(control.backends(), rollouts.status());
            send(res, summary.status === 'ok' ? 200 : 503, summary);
          },
        },
      },
    },
    '/metrics': {
      methods: {
        GET: {
          body: false,
          run: async ({ req, res }) => {
            if (!deps.metrics) {
              throw makeError('ERR_NOT_IMPLEMENTED', 'metrics are off for this balancer (metrics: false)');
            }
            await deps.metrics(req, res);
          },
        },
      },
    },
    ...(dashboard && {
      '/stats': { methods: { GET: { body: false, run: ({ res }) => send(res, 200, dashboard.live.stats()) } } },
      '/events': {
        methods: {
          GET: {
            body: false,
            run: ({ res, query }) => send(res, 200, dashboard.live.events(Number(query.get('after')) || 0)),
          },
        },
      },
    }),
  };

  function match(path: string): { route: Route; params: Params } | undefined {
    const exact = routes[path];
    if (exact) return { route: exact, params: {} };
    const parts = path.split('/');
    if (parts[1] !== 'backends' || parts[2] === undefined || parts[2] === '') return undefined;
    const id = decodeURIComponent(parts[2]);
    if (parts.length === 3) return { route: routes['/backends/:id'] as Route, params: { id } };
    if (parts.length === 4 && parts[3] === 'drain')
      return { route: routes['/backends/:id/drain'] as Route, params: { id } };
    return undefined;
  }

  return async function admin(req, res) {
    try {
      // Appended to a fixed origin, never resolved against it: `//x` stays a path, not an authority.
      const target = req.url ?? '/';
      const url = new URL(`http://admin.invalid${target.startsWith('/') ? target : `/${target}`}`);
      let path: string | undefined = url.pathname.replace(/\/+$/, '') || '/';
      if (options.prefix) {
        const inside = path === options.prefix || path.startsWith(`${options.prefix}/`);
        path = inside ? path.slice(options.prefix.length) || '/' : undefined;
      }
      // The dashboard serves its page and sessions itself, and may vouch for a session cookie.
      const decision = dashboard ? await dashboard.intercept(req, res, dashboardPath(url, options.prefix)) : 'pass';
      if (decision === 'handled') return;
      if (decision !== 'session' && !authorized(req.headers.authorization)) {
        send(
          res,
          401,
          { error: { code: 'ERR_UNAUTHORIZED', message: 'unauthorized' } },
          {
            'www-authenticate': 'Bearer realm="switchyard"',
          },
        );
        return;
      }
      if (path === undefined) throw notFound();
      let found: ReturnType<typeof match>;
      try {
        found = match(path);
      } catch {
        throw makeError('ERR_BAD_REQUEST', 'the path is not valid percent-encoding');
      }
      if (!found) throw notFound();
      const allowed = Object.keys(found.route.methods) as Method[];
      const method = (req.method === 'HEAD' ? 'GET' : req.method) as Method;
      const handler = found.route.methods[method];
      if (!handler) {
        const allow = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed;
        throw Object.assign(
          makeError('ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use ${allow.join(', ')}`),
          { allow: allow.join(', ') },
        );
      }
      const body = handler.body ? await readJsonBody(req, options.maxBodyBytes) : undefined;
      await handler.run({ req, res, params: found.params, query: url.searchParams, body });
    } catch (error) {
      sendError(res, error);
    }
  };
}

/**
 * The first steps of every admin request: checks the bearer token (401
 * sent, `undefined` returned, when it is wrong), then strips `prefix`
 * (`ERR_NOT_FOUND` thrown outside it). Returns the parsed URL and the path
 * below the prefix, without a trailing slash.
 */
export function adminTarget(
  req: IncomingMessage,
  res: ServerResponse,
  authorized: (header: string | undefined) => boolean,
  prefix: string | undefined,
): { url: URL; path: string } | undefined {
  if (!authorized(req.headers.authorization)) {
    send(
      res,
      401,
      { error: { code: 'ERR_UNAUTHORIZED', message: 'unauthorized' } },
      { 'www-authenticate': 'Bearer realm="switchyard"' },
    );
    return undefined;
  }
  // Appended to a fixed origin, never resolved against it: `//x` stays a path, not an authority.
  const raw = req.url ?? '/';
  const url = new URL(`http://admin.invalid${raw.startsWith('/') ? raw : `/${raw}`}`);
  let path = url.pathname.replace(/\/+$/, '') || '/';
  if (prefix) {
    if (path !== prefix && !path.startsWith(`${prefix}/`)) throw notFound();
    path = path.slice(prefix.length) || '/';
  }
  return { url, path };
}

/** `GET /health`: backends counted by state, `ok` while at least one is available. */
export function healthSummary(
  backends: readonly BackendSnapshot[],
  rollout?: ReturnType<ControlPlane['rollouts']['status']>,
): HealthSummary {
  const counts = { total: backends.length, available: 0, healthy: 0, unhealthy: 0, ejected: 0, open: 0, draining: 0 };
  for (const backend of backends) counts[backend.status]++;
  counts.available = counts.healthy;
  return {
    status: counts.available > 0 ? 'ok' : 'unavailable',
    backends: counts,
    ...(rollout && rollout.status === 'running'
      ? { rollout: { id: rollout.id, phase: rollout.phase, batch: rollout.batch, batches: rollout.batches } }
      : {}),
  };
}

/** A snapshot as JSON: an unlimited `maxConnections` is `null`. */
function backendJson(backend: BackendSnapshot): Record<string, unknown> {
  return { ...backend, maxConnections: Number.isFinite(backend.maxConnections) ? backend.maxConnections : null };
}

/** `PATCH /backends/:id`: `maxConnections: null` lifts the limit. */
function backendUpdate(body: unknown): object {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ConfigError('update', body, 'an object with weight and/or maxConnections');
  }
  const update = { ...(body as Record<string, unknown>) };
  if (update.maxConnections === null) update.maxConnections = Number.POSITIVE_INFINITY;
  return update;
}

function flag(query: URLSearchParams, name: string, fallback: boolean): boolean {
  const value = query.get(name);
  if (value === null) return fallback;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ConfigError(name, value, 'true or false');
}

function timeoutParam(query: URLSearchParams): number | undefined {
  const value = query.get('timeout');
  if (value === null) return undefined;
  return parseDuration(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value, 'timeout');
}

/** The path below the admin root with its trailing slash kept (`/dashboard/` is the page), or `undefined` outside `prefix`. */
export function dashboardPath(url: URL, prefix: string | undefined): string | undefined {
  if (!prefix) return url.pathname;
  if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) return undefined;
  return url.pathname.slice(prefix.length) || '/';
}

function notFound(): SwitchyardError {
  return makeError('ERR_NOT_FOUND', 'no such admin route');
}

function noRollout(message: string, status: number): SwitchyardError {
  return new SwitchyardError('ERR_NO_ROLLOUT', message, { status });
}

const HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

/** Writes a JSON admin response (no-store, nosniff). */
export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...HEADERS, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Answers an admin request that failed: 400 with `path` for a `ConfigError`, the code's status otherwise. */
export function sendError(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof ConfigError) {
    send(res, 400, { error: { code: error.code, path: error.path, message: error.message } });
    return;
  }
  if (error instanceof SwitchyardError) {
    const status = STATUS_OF[error.code] ?? error.status ?? 500;
    const allow = (error as { allow?: string }).allow;
    send(res, status, error.toJSON(), allow ? { allow } : {});
    return;
  }
  // Details of an unexpected failure stay on the server.
  send(res, 500, { error: { code: 'ERR_INTERNAL', message: 'the admin request failed' } });
}
