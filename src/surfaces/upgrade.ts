import { type IncomingMessage, ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Backend } from '../core/backend.js';
import { Context, type PendingResponse } from '../core/context.js';
import { type ErrorCode, makeError, SwitchyardError } from '../core/errors.js';
import type { Events } from '../core/events.js';
import { hasBody } from '../core/net/has-body.js';
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

/** Answers an upgrade request on its raw socket (no tunnel) and closes it. */
function refuseUpgrade(events: Events, socket: Duplex, response: PendingResponse, error: ErrorCode | undefined): void {
  events.emit('upgrade', { backend: undefined, ok: false, ...(error === undefined ? {} : { error }) });
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

/**
 * Makes the `'upgrade'` listener (WebSockets and other upgrades). The
 * handshake passes the stages marked `upgrade` (rate limits and sticky
 * sessions see it as a request: a WebSocket handshake is no way around a
 * limit, and a session keeps its backend), then the `select` stage picks
 * the backend and the forwarder opens the tunnel.
 *
 * @example
 * ```ts
 * import { createUpgradeHandler } from './upgrade.js';
 * declare const deps: import('./upgrade.js').UpgradeDeps;
 * server.on('upgrade', createUpgradeHandler(deps));
 * ```
 */
export function createUpgradeHandler(deps: UpgradeDeps): UpgradeHandler {
  const { events, now, trust, meta, forwarder, rewrite } = deps;
  return function upgrade(req, socket, head, url = req.url ?? '/') {
    // A socket error before the tunnel is up must not reach the process.
    socket.on('error', () => {});
    const refuse = (status: number, error: SwitchyardError) => {
      const body = Buffer.from(JSON.stringify(error.toClientJSON()));
      refuseUpgrade(events, socket, { status, headers: { 'content-type': 'application/json' }, body }, error.code);
    };
    if (deps.closed()) {
      refuse(503, makeError('ERR_CLOSED', 'the load balancer is shutting down'));
      return;
    }
    const target = resolveTarget(url, req.headers.host);
    if (typeof target === 'string') {
      refuse(400, makeError('ERR_BAD_REQUEST', target));
      return;
    }
    if (hasBody(req)) {
      // Node hands an upgrade request's body to nobody: it would reach the
      // backend as the start of the next request on that connection.
      refuse(400, makeError('ERR_BAD_REQUEST', 'an upgrade request may not carry a body'));
      return;
    }
    let upstreamPath = target.path;
    if (rewrite) {
      try {
        upstreamPath = rewrite(upstreamPath, req);
      } catch (error) {
        refuse(500, error instanceof SwitchyardError ? error : makeError('ERR_MIDDLEWARE', String(error)));
        return;
      }
    }
    const headers = upstreamRequestHeaders(req, meta.forwardingInfo(req, true, target.authority));
    if (headers instanceof SwitchyardError) {
      refuse(400, headers);
      return;
    }
    const open = (backend: Backend) => {
      meta.stamp(
        headers,
        meta.idHeader === undefined ? undefined : requestId(req.headers[meta.idHeader]),
        meta.tracing ? proxyTrace(req.headers.traceparent) : undefined,
      );
      forwarder.upgrade(req, socket, head, backend, headers, upstreamPath, (error) => {
        events.emit(
          'upgrade',
          error ? { backend: backend.id, ok: false, error: 'ERR_UPSTREAM_CONNECT' } : { backend: backend.id, ok: true },
        );
      });
    };
    const ctx = new Context(req, new ServerResponse(req), upstreamPath, resolveClientAddress(req, trust), now());
    ctx.authority = target.authority;
    ctx.upstreamHeaders = headers;
    deps
      .chain()(ctx)
      .then(
        () => {
          if (ctx.backend) open(ctx.backend);
          else if (ctx.response) refuseUpgrade(events, socket, ctx.response, ctx.code);
          else refuse(503, makeError('ERR_NO_BACKEND', 'no backend is available to take this request'));
        },
        (error: unknown) => {
          if (error instanceof SwitchyardError && error.code === 'ERR_NO_BACKEND') {
            refuse(503, makeError('ERR_NO_BACKEND', 'no backend is available to take this request'));
          } else refuse(500, makeError('ERR_INTERNAL', `an upgrade policy failed: ${String(error)}`));
        },
      );
  };
}
