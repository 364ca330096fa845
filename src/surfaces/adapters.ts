import type { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ConfigError } from '../core/errors.js';
import { replacePrefix, underPrefix } from './rewrite.js';
import type { UpgradeHandler } from './upgrade.js';

/** Express-style middleware. */
export type ExpressMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** The part of a Koa context the balancer needs. */
export interface KoaContextLike {
  req: IncomingMessage;
  res: ServerResponse;
  respond?: boolean;
}

/** Koa-style middleware. */
export type KoaMiddleware = (ctx: KoaContextLike, next: () => Promise<unknown>) => Promise<void>;

/** Serves one request whose target is `url`; `forward` takes the errors the balancer would answer itself. */
type Handle = (
  req: IncomingMessage,
  res: ServerResponse,
  url: string,
  forward?: (error: unknown) => void,
) => Promise<void>;

/**
 * Options of `lb.express()`.
 *
 * @example
 * ```ts
 * import type { ErrorRequestHandler } from 'express';
 * app.use('/api', lb.express({ forwardErrors: true }));
 * const onError: ErrorRequestHandler = (err, req, res, next) => res.status(err.status ?? 500).send(`<h1>${err.code}</h1>`);
 * app.use(onError);
 * ```
 */
export interface ExpressOptions {
  /** Forward the full original URL (`req.originalUrl`) instead of the path below the mount point. @default false */
  keepMountPath?: boolean;
  /**
   * Pass the errors the balancer would answer itself (upstream failures,
   * refusals, see `onError`) to `next(error)`, for your Express error
   * handler to render. The error is a `SwitchyardError` with `status` and
   * `code`; `res` already carries headers such as `Retry-After`. Its
   * `message` may name the backend: render `code` or `toClientJSON()` to
   * clients. @default false
   */
  forwardErrors?: boolean;
}

/**
 * Options of `lb.upgradeAt()`.
 *
 * @example
 * ```ts
 * server.on('upgrade', lb.upgradeAt('/api', { keepMountPath: true }));
 * ```
 */
export interface UpgradeAtOptions {
  /** Forward the full URL instead of the path below `mountPath`, as `express({ keepMountPath })`. @default false */
  keepMountPath?: boolean;
}

/**
 * Express middleware around the request entry. Mounted under a path the
 * backend sees the path below the mount point, unless `keepMountPath`.
 *
 * @example
 * ```ts
 * import { expressAdapter } from './adapters.js';
 * declare const handle: Parameters<typeof expressAdapter>[0];
 * app.use('/api', expressAdapter(handle, { keepMountPath: true }));
 * ```
 */
export function expressAdapter(
  handle: Handle,
  { keepMountPath = false, forwardErrors = false }: ExpressOptions = {},
): ExpressMiddleware {
  return function switchyard(req, res, next) {
    const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl;
    const url = keepMountPath && original ? original : (req.url ?? '/');
    handle(req, res, url, forwardErrors ? next : undefined).catch(next);
  };
}

/**
 * The `'upgrade'` listener for a balancer mounted under `mountPath`: takes
 * the upgrades under it (whole segments), strips it unless `keepMountPath`,
 * and leaves every other upgrade, and `req.url`, to the other listeners.
 *
 * @example
 * ```ts
 * import { upgradeAtAdapter } from './adapters.js';
 * declare const upgrade: Parameters<typeof upgradeAtAdapter>[0];
 * server.on('upgrade', upgradeAtAdapter(upgrade, '/api'));
 * ```
 */
export function upgradeAtAdapter(
  upgrade: UpgradeHandler,
  mountPath: string,
  { keepMountPath = false }: UpgradeAtOptions = {},
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  if (typeof mountPath !== 'string' || !/^\/[^\s?#]*$/.test(mountPath)) {
    throw new ConfigError('mountPath', mountPath, 'a path starting with "/"');
  }
  const prefix = mountPath.length > 1 && mountPath.endsWith('/') ? mountPath.slice(0, -1) : mountPath;
  return function switchyardUpgrade(req, socket, head) {
    const url = req.url ?? '/';
    if (!underPrefix(url, prefix)) return;
    upgrade(req, socket, head, keepMountPath ? url : replacePrefix(url, prefix, '/'));
  };
}

/**
 * Koa middleware around the request entry: the balancer writes the response
 * itself (`ctx.respond = false`).
 *
 * @example
 * ```ts
 * import { koaAdapter } from './adapters.js';
 * declare const handle: Parameters<typeof koaAdapter>[0];
 * koaApp.use(koaAdapter(handle));
 * ```
 */
export function koaAdapter(handle: Handle): KoaMiddleware {
  return async function switchyard(ctx) {
    ctx.respond = false;
    await handle(ctx.req, ctx.res, ctx.req.url ?? '/');
  };
}
