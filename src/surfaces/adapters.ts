import type { IncomingMessage, ServerResponse } from 'node:http';

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

/** Serves one request whose target is `url`. */
type Handle = (req: IncomingMessage, res: ServerResponse, url: string) => Promise<void>;

/**
 * Express middleware around the request entry. Mounted under a path the
 * backend sees the path below the mount point, unless `keepMountPath`.
 *
 * @example
 * ```ts
 * app.use('/api', expressAdapter(handle, { keepMountPath: true }));
 * ```
 */
export function expressAdapter(handle: Handle, { keepMountPath = false } = {}): ExpressMiddleware {
  return function switchyard(req, res, next) {
    const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl;
    const url = keepMountPath && original ? original : (req.url ?? '/');
    handle(req, res, url).catch(next);
  };
}

/**
 * Koa middleware around the request entry: the balancer writes the response
 * itself (`ctx.respond = false`).
 *
 * @example
 * ```ts
 * koaApp.use(koaAdapter(handle));
 * ```
 */
export function koaAdapter(handle: Handle): KoaMiddleware {
  return async function switchyard(ctx) {
    ctx.respond = false;
    await handle(ctx.req, ctx.res, ctx.req.url ?? '/');
  };
}
