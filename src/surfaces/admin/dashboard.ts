/**
 * @module
 * The web dashboard's server side, hooked into the admin handler: static
 * assets built by `npm run build` (served with a strict CSP and long-lived
 * caching of hashed files), cookie sessions opened with the admin token,
 * CSRF checks on every mutation, and the traffic history behind
 * `GET /stats` and `GET /events`. The page itself only calls the admin JSON
 * API, so any admin handler offering the same routes can serve it.
 */
import type { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, relative, sep } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import type { BackendSnapshot } from '../../core/backend.js';
import type { Duration } from '../../core/duration.js';
import { makeError, type SwitchyardError } from '../../core/errors.js';
import { duration } from '../../core/zod.js';
import { sameSecret } from './auth.js';
import { readJsonBody } from './body.js';
import { CSRF_HEADER, crossSite, isMutation } from './csrf.js';
import { LiveStats, type LiveStatsSource } from './live-stats.js';
import { sendJson } from './reply.js';
import { readCookie, SESSION_COOKIE, SessionStore, sessionCookie } from './session.js';

/**
 * The `dashboard` option of `lb.admin()`: `true` for the defaults, or an
 * object. Off unless given.
 */
export const dashboardOptionsSchema = z.union([
  z.boolean(),
  z.strictObject({
    /** A session unused this long ends (the open page polls, so it stays alive). @default '30m' */
    sessionIdleTimeout: duration().default(30 * 60_000),
    /** A session ends this long after login, in use or not. @default '12h' */
    sessionLifetime: duration().default(12 * 3_600_000),
    /**
     * Mark the session cookie `Secure`. Leave it unset to mark it when the
     * connection itself is TLS; set `true` behind a TLS-terminating proxy.
     * @default per connection
     */
    secureCookie: z.boolean().optional(),
    /**
     * Folder of the built dashboard (its `index.html` and `assets/`).
     * @default the package's `dist/dashboard`
     */
    assets: z.string().min(1).optional(),
  }),
]);

/**
 * The `dashboard` option of `lb.admin()`, as given (or `true` for the defaults, `false` for none).
 */
export interface DashboardOptions {
  /** A session unused this long ends (the open page polls, so it stays alive); milliseconds or a duration string. @default '30m' */
  sessionIdleTimeout?: Duration | undefined;
  /** A session ends this long after login, in use or not; milliseconds or a duration string. @default '12h' */
  sessionLifetime?: Duration | undefined;
  /** Mark the session cookie `Secure`; unset marks it when the connection itself is TLS (set `true` behind a TLS-terminating proxy). @default per connection */
  secureCookie?: boolean | undefined;
  /** Folder of the built dashboard (its `index.html` and `assets/`). @default the package's `dist/dashboard` */
  assets?: string | undefined;
}

/** {@link DashboardOptions} after validation and defaults (durations in milliseconds). */
export interface ResolvedDashboardOptions {
  /** Session idle timeout, ms. @default 1800000 */
  sessionIdleTimeout: number;
  /** Session lifetime, ms. @default 43200000 */
  sessionLifetime: number;
  /** `Secure` cookie; undefined: per connection. */
  secureCookie?: boolean | undefined;
  /** Dashboard folder; undefined: the package's `dist/dashboard`. */
  assets?: string | undefined;
}

/** URL path (below the admin root) of the dashboard page. */
export const DASHBOARD_PATH = '/dashboard';

/** The Content-Security-Policy of every dashboard asset: no inline script or style, nothing from elsewhere. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
  readonly type: string;
  readonly etag: string;
  /** Content-hashed names never change: cache them for a year. */
  readonly immutable: boolean;
}

/** The package's `dist/dashboard`: found from this file, whether it runs from `src/` or `dist/`. */
function defaultAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'switchyard') {
          return join(dir, 'dist', 'dashboard');
        }
      } catch {
        // not ours: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboard');
}

/** Reads every built file once; `undefined` when the dashboard was never built. */
function loadAssets(root: string): Map<string, Asset> | undefined {
  if (!existsSync(join(root, 'index.html'))) return undefined;
  const assets = new Map<string, Asset>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const file = join(dir, name);
      if (statSync(file).isDirectory()) {
        walk(file);
        continue;
      }
      const type = TYPES[extname(name)];
      if (type === undefined) continue;
      const body = readFileSync(file);
      const rel = relative(root, file).split(sep).join('/');
      const gzip = body.length > 1024 && !type.startsWith('image/png') ? gzipSync(body, { level: 9 }) : undefined;
      assets.set(`${DASHBOARD_PATH}/${rel === 'index.html' ? '' : rel}`, {
        body,
        gzip,
        type,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        immutable: rel.startsWith('assets/'),
      });
    }
  };
  walk(root);
  return assets;
}

/** What the dashboard hook decided about a request. */
export type Interception =
  /** The dashboard answered it (asset, login, logout). */
  | 'handled'
  /** A valid session cookie (and, for a mutation, CSRF token) authorises it. */
  | 'session'
  /** Not the dashboard's business: the bearer token decides. */
  | 'pass';

/** What {@link createDashboard} needs. */
export interface DashboardDeps {
  /** The admin token, which opens a session. */
  readonly token: string;
  /** The admin handler's `prefix` (the cookie's `Path`). */
  readonly prefix: string | undefined;
  readonly options: ResolvedDashboardOptions | true;
  /** Events to chart (the balancer). */
  readonly source: LiveStatsSource;
  readonly backends: () => readonly BackendSnapshot[];
  /** The admin API's routes (`/backends`, `/routes`...), told to the page so it shows only what exists. */
  readonly paths: () => readonly string[];
}

/** The dashboard hook of an admin handler. */
export interface Dashboard {
  /**
   * Looks at an admin request first. `path` is below the admin root
   * (`undefined` when the request is outside `prefix`). Throws a
   * `SwitchyardError` to refuse (403 `ERR_CSRF`, 401...).
   */
  intercept(req: IncomingMessage, res: ServerResponse, path: string | undefined): Promise<Interception>;
  /** The traffic history behind `GET /stats` and `GET /events`. */
  readonly live: LiveStats;
}

/**
 * Builds the dashboard hook of `lb.admin({ token, dashboard: true })`.
 *
 * @example
 * ```ts
 * import { createDashboard } from './dashboard.js';
 * const dashboard = createDashboard({
 *   token, prefix: undefined, options: true, source: lb, backends: () => lb.backends(), paths: () => ['/backends'],
 * });
 * const handled = (await dashboard.intercept(req, res, '/dashboard/')) === 'handled'; // else: not a dashboard request
 * ```
 */
export function createDashboard(deps: DashboardDeps): Dashboard {
  const settings = deps.options === true ? dashboardOptionsSchema.options[1].parse({}) : deps.options;
  const sessions = new SessionStore({ idleMs: settings.sessionIdleTimeout, lifetimeMs: settings.sessionLifetime });
  const live = new LiveStats(deps.source, deps.backends);
  const root = settings.assets ?? defaultAssetsDir();
  let assets: Map<string, Asset> | undefined;
  const cookiePath = deps.prefix || '/';

  const secure = (req: IncomingMessage) => settings.secureCookie ?? (req.socket as TLSSocket).encrypted === true;

  function serveAsset(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw Object.assign(makeError('ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use GET, HEAD`), {
        allow: 'GET, HEAD',
      });
    }
    if (path === DASHBOARD_PATH) {
      // Relative, so it works under any mount path.
      res.writeHead(308, { location: 'dashboard/', 'content-length': 0, ...PAGE_HEADERS });
      res.end();
      return;
    }
    assets ??= loadAssets(root);
    if (!assets) {
      throw makeError('ERR_NOT_IMPLEMENTED', 'the dashboard is not built: run `npm run build` in the package');
    }
    const asset = assets.get(path === `${DASHBOARD_PATH}/index.html` ? `${DASHBOARD_PATH}/` : path);
    if (!asset) throw makeError('ERR_NOT_FOUND', 'no such dashboard file');
    const headers: Record<string, string | number> = {
      ...PAGE_HEADERS,
      'content-type': asset.type,
      etag: asset.etag,
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      vary: 'accept-encoding',
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = asset.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) ? asset.gzip : undefined;
    const body = gzip ?? asset.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    headers['content-length'] = body.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async function session(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
    const noStore = { 'cache-control': 'no-store' };
    if (req.method === 'POST') {
      const body = await readJsonBody(req, 8192);
      const given = (body as { token?: unknown } | null)?.token;
      if (typeof given !== 'string' || !sameSecret(given, deps.token)) {
        throw makeError('ERR_UNAUTHORIZED', 'wrong token');
      }
      // A fresh id at each login: a planted cookie never becomes a session.
      sessions.delete(cookie);
      const { id, session } = sessions.create();
      sendJson(
        res,
        201,
        { ...sessionJson(session, settings.sessionIdleTimeout), api: deps.paths() },
        {
          ...noStore,
          'set-cookie': sessionCookie(id, {
            path: cookiePath,
            secure: secure(req),
            maxAgeS: settings.sessionLifetime / 1000,
          }),
        },
      );
      return;
    }
    const current = sessions.get(cookie);
    if (req.method === 'GET' || req.method === 'HEAD') {
      // Not an error for the page: it asks once on load to know whether to show the login form.
      if (!current) sendJson(res, 200, { session: null });
      else sendJson(res, 200, { ...sessionJson(current, settings.sessionIdleTimeout), api: deps.paths() });
      return;
    }
    if (req.method === 'DELETE') {
      if (current && !sameSecret(header(req, CSRF_HEADER), current.csrfToken))
        throw csrfError('the CSRF token is missing or wrong');
      sessions.delete(cookie);
      res.writeHead(204, {
        ...noStore,
        'set-cookie': sessionCookie('', { path: cookiePath, secure: secure(req), maxAgeS: 0 }),
      });
      res.end();
      return;
    }
    throw Object.assign(
      makeError('ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use GET, POST, DELETE`),
      {
        allow: 'GET, HEAD, POST, DELETE',
      },
    );
  }

  return {
    live,
    async intercept(req, res, path) {
      if (isMutation(req.method)) {
        const reason = crossSite(req);
        if (reason) throw csrfError(reason);
      }
      if (path !== undefined && (path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`))) {
        serveAsset(req, res, path);
        return 'handled';
      }
      if (path === '/session') {
        await session(req, res);
        return 'handled';
      }
      // A script's bearer token wins over any cookie.
      if (req.headers.authorization !== undefined) return 'pass';
      const current = sessions.get(readCookie(req.headers.cookie, SESSION_COOKIE));
      if (!current) return 'pass';
      if (isMutation(req.method) && !sameSecret(header(req, CSRF_HEADER), current.csrfToken)) {
        throw csrfError('the CSRF token is missing or wrong');
      }
      return 'session';
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function csrfError(message: string): SwitchyardError {
  return makeError('ERR_CSRF', `refused: ${message}`);
}

function sessionJson(
  session: { csrfToken: string; expiresAt: number },
  idleMs: number,
): { session: { csrfToken: string; expiresAt: string; idleTimeoutMs: number } } {
  return {
    session: {
      csrfToken: session.csrfToken,
      expiresAt: new Date(session.expiresAt).toISOString(),
      idleTimeoutMs: idleMs,
    },
  };
}
