import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import { constants } from 'node:http2';
import type { Socket } from 'node:net';
import { clientResponseHeaders } from './headers.js';
import { Handshake, handshakeFailure, type TunnelOptions } from './upgrade.js';

/** RFC 6455 §1.3: the GUID appended to `Sec-WebSocket-Key` for `Sec-WebSocket-Accept`. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The `Sec-WebSocket-Accept` a backend must answer to `key` (RFC 6455 §4.2.2). */
export function websocketAccept(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID)
    .digest('base64');
}

/** A 101 answer's fields the HTTP/2 client gets in its `:status 200`: end-to-end ones, without the handshake's proof. */
function switchedHeaders(proxyRes: IncomingMessage, via: string | false): Record<string, string | string[]> {
  const headers = clientResponseHeaders(proxyRes, via) as Record<string, string | string[]>;
  delete headers['sec-websocket-accept'];
  delete headers['content-length'];
  return headers;
}

/**
 * Opens a WebSocket over an HTTP/2 stream (RFC 8441 extended CONNECT,
 * `:protocol websocket`) to `options.backend` as an HTTP/1.1 upgrade (RFC
 * 6455: `GET`, `Upgrade: websocket`, a fresh `Sec-WebSocket-Key`), the way
 * Envoy does. On the backend's 101, whose `Sec-WebSocket-Accept` must match
 * the key, the stream is answered `:status 200` and bytes flow both ways
 * between the stream and the backend socket. Any other answer is relayed as
 * an ordinary HTTP/2 response; no answer is a 502/504 JSON error. The
 * connection is never returned to the keep-alive pool.
 *
 * @example
 * ```ts
 * import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
 * import { tunnelStream } from './upgrade-h2.js';
 * declare const stream: { req: Http2ServerRequest; res: Http2ServerResponse };
 * tunnelStream(stream.req, stream.res, {
 *   ...{ backend, headers, path: '/chat', via: 'switchyard', timeoutMs: 10_000 },
 *   onError: (e) => log(e),
 * });
 * ```
 */
export function tunnelStream(req: Http2ServerRequest, res: Http2ServerResponse, options: TunnelOptions): void {
  const { backend, path, via, onError, timeoutMs } = options;
  const stream: ServerHttp2Stream = res.stream;
  const key = randomBytes(16).toString('base64');
  const headers: Record<string, string | string[]> = {
    ...options.headers,
    connection: 'upgrade',
    upgrade: 'websocket',
    'sec-websocket-key': key,
  };
  // The stream's DATA is the WebSocket, not a body: no framing for it on the handshake.
  delete headers['transfer-encoding'];
  delete headers['content-length'];
  let tunnel: Socket | undefined;
  const alive = () => !stream.destroyed && !stream.closed;
  const handshake = new Handshake(backend, 'GET', path, headers, timeoutMs);
  const proxyReq = handshake.proxyReq;
  const fail = (error: Error & { code?: string }) => {
    const failure = handshake.fail(error);
    if (failure === undefined) return;
    if (!handshake.upgraded && !handshake.answered && alive() && !res.headersSent) {
      // Nothing reached the client yet: an ordinary gateway error, generic body.
      const { status, body } = handshakeFailure(failure);
      res.writeHead(status, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    } else if (alive()) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    onError(failure, !handshake.clientGone);
  };
  proxyReq.on('error', fail);
  proxyReq.on('upgrade', (proxyRes: IncomingMessage, proxySocket: Socket, proxyHead: Buffer) => {
    handshake.settle();
    proxySocket.on('error', fail);
    if (proxyRes.headers['sec-websocket-accept'] !== websocketAccept(key)) {
      proxySocket.destroy();
      fail(
        Object.assign(new Error('the backend answered the WebSocket handshake with a wrong Sec-WebSocket-Accept'), {
          code: 'ERR_UPSTREAM_PROTOCOL',
        }),
      );
      return;
    }
    handshake.upgraded = true;
    tunnel = proxySocket;
    if (!alive()) {
      proxySocket.destroy();
      return;
    }
    proxySocket.setTimeout(0);
    proxySocket.setNoDelay(true);
    proxySocket.setKeepAlive(true, 0);
    stream.setTimeout(0);
    // The backend closed: the stream ends (END_STREAM after what it sent, then RST_STREAM NO_ERROR:
    // nobody reads the client's side any more, RFC 9113 §8.1), or is reset if the backend broke off.
    proxySocket.once('close', () => {
      if (!alive()) return;
      if (!proxySocket.readableEnded) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      else if (res.writableFinished) stream.close(constants.NGHTTP2_NO_ERROR);
      else {
        res.once('finish', () => {
          if (alive()) stream.close(constants.NGHTTP2_NO_ERROR);
        });
        res.end();
      }
    });
    res.writeHead(200, switchedHeaders(proxyRes, via));
    if (proxyHead.length > 0) res.write(proxyHead);
    proxySocket.pipe(res);
    req.pipe(proxySocket);
  });
  proxyReq.on('response', (proxyRes: IncomingMessage) => {
    handshake.answered = true;
    handshake.settle();
    proxyReq.shouldKeepAlive = false;
    proxyRes.on('error', () => {
      if (alive()) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    });
    proxyRes.once('close', () => {
      if (!proxyRes.complete && alive()) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    });
    if (!alive()) {
      proxyRes.destroy();
      return;
    }
    const status = proxyRes.statusCode ?? 502;
    res.writeHead(status, clientResponseHeaders(proxyRes, via));
    if (status === 204 || status === 304) {
      proxyRes.resume();
      res.end();
    } else proxyRes.pipe(res);
  });
  // The stream closed (the client reset it, or both sides ended): the backend connection goes too.
  // Before the tunnel is up that is the client's doing, not a backend failure: before any answer it
  // is reported as the client's abort (ERR_CLIENT_ABORTED), and nothing is reported after it.
  stream.once('close', () => {
    handshake.settle();
    if (tunnel === undefined) {
      if (!handshake.answered) {
        handshake.clientGone = true;
        fail(new Error('client closed the stream'));
      }
      handshake.failed = true;
      proxyReq.destroy();
    } else if (stream.rstCode === constants.NGHTTP2_NO_ERROR) tunnel.end();
    else tunnel.destroy();
  });
  proxyReq.end();
}
