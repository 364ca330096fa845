import { Buffer } from 'node:buffer';
import { type IncomingMessage, ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Backend } from '../core/backend.js';
import { Context, type PendingResponse } from '../core/context.js';
import { type ErrorCode, makeError, SwitchyardError } from '../core/errors.js';
import type { Events } from '../core/events.js';
import { hasBody } from '../core/net/has-body.js';
import { isHttp2, requestAuthority } from '../core/net/http2-compat.js';
import { resolveTarget } from '../core/net/request-target.js';
import { resolveClientAddress, type TrustFn } from '../core/net/trust-proxy.js';
import { upstreamRequestHeaders } from '../upstream/forwarder/headers.js';
import type { UpstreamForwarder } from '../upstream/forwarder/upstream-forwarder.js';
import { requestId } from './observability/request-id.js';
import { proxyTrace } from './observability/traceparent.js';
import type { RequestMeta } from './request-meta.js';
import type { RewriteFunction } from './rewrite.js';

/** What the upgrade path needs from the balancer. */
export interface UpgradeDeps {
  readonly events: Events;
  readonly now: () => number;
  readonly trust: TrustFn;
  readonly meta: RequestMeta;
  readonly forwarder: UpstreamForwarder;
  /**
   * The stages that also run for upgrades, ending with selection (the
   * `select` stage, without queueing): sets `ctx.backend`, or `ctx.response`
   * when a stage refused, or throws `ERR_NO_BACKEND`.
   */
  readonly chain: () => (ctx: Context) => Promise<void>;
  readonly closed: () => boolean;
  /** The `rewrite` option, made into a step (it may throw `ERR_MIDDLEWARE`). */
  readonly rewrite?: RewriteFunction | undefined;
}

/**
 * The upgrade listener; `url` (default `req.url`) is the target to forward,
 * so `upgradeAt` can strip a mount path without changing `req.url` for the
 * server's other listeners.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url?: string) => void;

/** Writes a refusal (no tunnel) on an upgrade request's raw socket and closes it. */
function refuseOnSocket(socket: Duplex, response: PendingResponse): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = Buffer.isBuffer(response.body) ? response.body : Buffer.alloc(0);
  let head = `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}\r\n`;
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined || name === 'content-length' || name === 'connection') continue;
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
  }
  socket.end(Buffer.concat([Buffer.from(`${head}content-length: ${body.length}\r\nconnection: close\r\n\r\n`), body]));
}

/** How one upgrade answers its client: with a refusal, or with the tunnel to the backend `select` chose. */
export interface UpgradeSide {
  /** The response the pipeline's {@link Context} holds (a placeholder when the client is a raw socket). */
  readonly res: ServerResponse;
  /** Answers without a tunnel. */
  refuse(response: PendingResponse): void;
  /** Opens the tunnel to `backend`; `onDone` runs once, when it is over. */
  open(
    backend: Backend,
    headers: Record<string, string | string[]>,
    path: string,
    onDone: (error?: Error) => void,
  ): void;
}

/** The JSON refusal of a balancer error. */
export function errorResponse(status: number, error: SwitchyardError): PendingResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: Buffer.from(JSON.stringify(error.toClientJSON())),
  };
}

/**
 * Runs one upgrade handshake through the balancer, whatever carries it (an
 * HTTP/1.1 `Upgrade` on a socket, an HTTP/2 extended CONNECT on a stream):
 * the target and headers are checked, `rewrite` applies, the stages marked
 * `upgrade` run (rate limits and sticky sessions see it as a request: a
 * WebSocket handshake is no way around a limit, and a session keeps its
 * backend), then `side` opens the tunnel to the backend the `select` stage
 * picked, or answers the refusal. Emits the `upgrade` event.
 *
 * @example
 * ```ts
 * import { startUpgrade } from './upgrade.js';
 * declare const deps: import('./upgrade.js').UpgradeDeps;
 * declare const side: import('./upgrade.js').UpgradeSide;
 * startUpgrade(deps, req, req.url ?? '/', side);
 * ```
 */
export function startUpgrade(deps: UpgradeDeps, req: IncomingMessage, url: string, side: UpgradeSide): void {
  const { events, now, trust, meta, rewrite } = deps;
  const refuse = (response: PendingResponse, error: ErrorCode | undefined) => {
    events.emit('upgrade', { backend: undefined, ok: false, ...(error === undefined ? {} : { error }) });
    side.refuse(response);
  };
  const fail = (status: number, error: SwitchyardError) => refuse(errorResponse(status, error), error.code);
  if (deps.closed()) {
    fail(503, makeError('ERR_CLOSED', 'the load balancer is shutting down'));
    return;
  }
  // HTTP/2: `:authority` is the Host (RFC 9113 §8.3.1); a differing Host field is refused.
  const host = requestAuthority(req);
  const target = host === false ? 'Host differs from :authority' : resolveTarget(url, host);
  if (typeof target === 'string') {
    fail(400, makeError('ERR_BAD_REQUEST', target));
    return;
  }
  if (!isHttp2(req) && hasBody(req)) {
    // Node hands an upgrade request's body to nobody: it would reach the
    // backend as the start of the next request on that connection.
    fail(400, makeError('ERR_BAD_REQUEST', 'an upgrade request may not carry a body'));
    return;
  }
  let upstreamPath = target.path;
  if (rewrite) {
    try {
      upstreamPath = rewrite(upstreamPath, req);
    } catch (error) {
      fail(500, error instanceof SwitchyardError ? error : makeError('ERR_MIDDLEWARE', String(error)));
      return;
    }
  }
  const headers = upstreamRequestHeaders(req, meta.forwardingInfo(req, true, target.authority));
  if (headers instanceof SwitchyardError) {
    fail(400, headers);
    return;
  }
  const open = (backend: Backend) => {
    meta.stamp(
      headers,
      meta.idHeader === undefined ? undefined : requestId(req.headers[meta.idHeader]),
      meta.tracing ? proxyTrace(req.headers.traceparent) : undefined,
    );
    side.open(backend, headers, upstreamPath, (error) => {
      events.emit(
        'upgrade',
        error
          ? {
              backend: backend.id,
              ok: false,
              // The forwarder classified it (connect, timeout, reset, protocol); anything else broke the tunnel.
              error: error instanceof SwitchyardError ? error.code : 'ERR_UPSTREAM_RESET',
            }
          : { backend: backend.id, ok: true },
      );
    });
  };
  const ctx = new Context(req, side.res, upstreamPath, resolveClientAddress(req, trust), now());
  ctx.authority = target.authority;
  ctx.upstreamHeaders = headers;
  deps
    .chain()(ctx)
    .then(
      () => {
        if (ctx.backend) open(ctx.backend);
        else if (ctx.response) refuse(ctx.response, ctx.code);
        else fail(503, makeError('ERR_NO_BACKEND', 'no backend is available to take this request'));
      },
      (error: unknown) => {
        if (error instanceof SwitchyardError && error.code === 'ERR_NO_BACKEND') {
          fail(503, makeError('ERR_NO_BACKEND', 'no backend is available to take this request'));
        } else fail(500, makeError('ERR_INTERNAL', `an upgrade policy failed: ${String(error)}`));
      },
    );
}

/**
 * Makes the `'upgrade'` listener (WebSockets and other upgrades): the
 * handshake goes through {@link startUpgrade}, and the forwarder opens the
 * tunnel on the socket.
 *
 * @example
 * ```ts
 * import { createUpgradeHandler } from './upgrade.js';
 * declare const deps: import('./upgrade.js').UpgradeDeps;
 * server.on('upgrade', createUpgradeHandler(deps));
 * ```
 */
export function createUpgradeHandler(deps: UpgradeDeps): UpgradeHandler {
  return function upgrade(req, socket, head, url = req.url ?? '/') {
    // A socket error before the tunnel is up must not reach the process.
    socket.on('error', () => {});
    startUpgrade(deps, req, url, {
      res: new ServerResponse(req),
      refuse: (response) => refuseOnSocket(socket, response),
      open: (backend, headers, path, onDone) =>
        deps.forwarder.upgrade(req, socket, head, backend, headers, path, onDone),
    });
  };
}
