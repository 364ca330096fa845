/**
 * WebSockets over HTTP/2 (RFC 8441): an extended CONNECT (`:method CONNECT`,
 * `:protocol websocket`) runs the upgrade pipeline of an HTTP/1.1 upgrade and
 * reaches its backend as one (`Upgrade: websocket`), the way Envoy proxies it.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { PendingResponse } from '../core/context.js';
import { makeError } from '../core/errors.js';
import type { Events } from '../core/events.js';
import { isHttp2 } from '../core/net/http2-compat.js';
import { errorResponse, startUpgrade, type UpgradeDeps } from './upgrade.js';

/**
 * The listener for an HTTP/2 server's `'connect'` event (Node's
 * compatibility API hands CONNECT requests there, not to the request
 * handler). On an `allowHTTP1` server the same event carries HTTP/1.1
 * CONNECT requests with their raw socket; those are refused.
 */
export type ConnectHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse | Duplex,
  head?: Buffer,
) => void;

/** Writes a balancer response (a refusal) on an HTTP/2 compatibility response. */
function answer(res: Http2ServerResponse, response: PendingResponse): void {
  if (res.headersSent || res.stream.destroyed) return;
  const body = Buffer.isBuffer(response.body) ? response.body : Buffer.alloc(0);
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined && name !== 'content-length' && name !== 'connection') headers[name] = value;
  }
  headers['content-length'] = String(body.length);
  res.writeHead(response.status, headers);
  res.end(body);
}

function isSocket(res: ServerResponse | Http2ServerResponse | Duplex): res is Duplex {
  return typeof (res as Partial<ServerResponse>).writeHead !== 'function';
}

/**
 * Makes the extended CONNECT handler: `:protocol websocket` goes through
 * the upgrade pipeline (`startUpgrade`: rate limits, sticky sessions,
 * selection) to the forwarder's `upgradeStream`; a CONNECT without
 * `:protocol` or with another protocol is answered 501
 * `ERR_NOT_IMPLEMENTED`, never forwarded.
 *
 * @example
 * ```ts
 * import { createConnectHandler } from './extended-connect.js';
 * declare const deps: import('./upgrade.js').UpgradeDeps;
 * declare const http2Server: import('node:http2').Http2Server;
 * http2Server.on('connect', createConnectHandler(deps));
 * ```
 */
export function createConnectHandler(deps: UpgradeDeps): ConnectHandler {
  return function connect(request, response) {
    if (refuseConnect(request, response, deps.events)) return;
    const res = response as Http2ServerResponse;
    const req = request as IncomingMessage;
    startUpgrade(deps, req, req.url ?? '/', {
      res: response as ServerResponse,
      refuse: (refused) => answer(res, refused),
      open: (backend, headers, path, onDone) =>
        deps.forwarder.upgradeStream(request as Http2ServerRequest, res, backend, headers, path, onDone),
    });
  };
}

/**
 * Answers a CONNECT that is not a WebSocket over HTTP/2 with 501
 * `ERR_NOT_IMPLEMENTED` (on the raw socket for an HTTP/1.1 CONNECT) and
 * returns true; returns false for an extended CONNECT with
 * `:protocol websocket`, which the caller serves. With `events`, another
 * `:protocol` is reported as a failed `upgrade`.
 *
 * @example
 * ```ts
 * import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
 * import { refuseConnect } from './extended-connect.js';
 * declare const stream: { req: Http2ServerRequest; res: Http2ServerResponse };
 * if (!refuseConnect(stream.req, stream.res)) log('a WebSocket to route');
 * ```
 */
export function refuseConnect(
  request: IncomingMessage | Http2ServerRequest,
  response: ServerResponse | Http2ServerResponse | Duplex,
  events?: Events,
): boolean {
  const refusal = (protocol: unknown) =>
    makeError(
      'ERR_NOT_IMPLEMENTED',
      protocol === undefined
        ? 'CONNECT is not proxied: only WebSockets over HTTP/2 (:protocol websocket)'
        : 'only the websocket protocol of an extended CONNECT is proxied',
    );
  if (isSocket(response)) {
    // An HTTP/1.1 CONNECT (an allowHTTP1 server's 'connect' event): no tunnel of that kind.
    response.on('error', () => {});
    const body = JSON.stringify(refusal(undefined).toClientJSON());
    response.end(
      `HTTP/1.1 501 Not Implemented\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    return true;
  }
  const req = request as IncomingMessage;
  const protocol = req.headers[':protocol'];
  if (isHttp2(req) && req.method === 'CONNECT' && protocol === 'websocket') return false;
  // An extended CONNECT for another protocol is a failed upgrade; a plain CONNECT is no upgrade at all.
  if (protocol !== undefined) events?.emit('upgrade', { backend: undefined, ok: false, error: 'ERR_NOT_IMPLEMENTED' });
  answer(response as Http2ServerResponse, errorResponse(501, refusal(protocol)));
  return true;
}

/**
 * Runs `connect` for a CONNECT that reached the request handler (a
 * `'connect'` listener set to `lb.handler`, or the router's); resolves when
 * its stream is over.
 *
 * @example
 * ```ts
 * import { connectDone } from './extended-connect.js';
 * import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
 * declare const connect: import('./extended-connect.js').ConnectHandler;
 * declare const serve: (q: Http2ServerRequest, r: Http2ServerResponse) => Promise<void>;
 * const handler = (q: Http2ServerRequest, r: Http2ServerResponse) =>
 *   q.method === 'CONNECT' ? connectDone(connect, q, r) : serve(q, r);
 * ```
 */
export function connectDone(
  connect: ConnectHandler,
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
): Promise<void> {
  const done = new Promise<void>((resolve) => res.once('close', () => resolve()));
  connect(req, res);
  return done;
}
