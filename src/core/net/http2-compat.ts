/**
 * What differs between a request served by `node:http` and one served by
 * `node:http2`'s compatibility API (`Http2ServerRequest`/`Http2ServerResponse`),
 * in the few places the balancer cares. The compatibility objects stand in for
 * `IncomingMessage`/`ServerResponse` everywhere else; these helpers read them
 * without writing to them (their `headers` is a read-only getter).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The stream of an HTTP/2 compatibility request or response, as far as the balancer reads it. */
interface StreamLike {
  readonly destroyed: boolean;
  readonly endAfterHeaders?: boolean;
  /** RST_STREAM code once closed: 0 (NO_ERROR) for a stream that ended normally. */
  readonly rstCode?: number;
}

function streamOf(res: ServerResponse): StreamLike | undefined {
  return (res as unknown as { stream?: StreamLike }).stream;
}

/**
 * True once the whole response went out: `writableFinished` for HTTP/1.1. An
 * HTTP/2 compatibility response reports `writableFinished` true for a stream
 * the client reset too, so there it is "ended by us and closed without an
 * error code".
 *
 * @example
 * ```ts
 * import { responseFinished } from './http2-compat.js';
 * res.once('close', () => console.log(responseFinished(res) ? 'sent' : 'client left'));
 * ```
 */
export function responseFinished(res: ServerResponse): boolean {
  const stream = streamOf(res);
  if (stream === undefined || !isHttp2(res.req)) return res.writableFinished;
  return res.writableEnded && (stream.rstCode ?? 0) === 0;
}

/**
 * True when `req` arrived over HTTP/2 (an `Http2ServerRequest`), false for
 * HTTP/1.x, including HTTP/1.1 served by an `allowHTTP1` HTTP/2 server.
 *
 * @example
 * ```ts
 * import { isHttp2 } from './http2-compat.js';
 * import type { IncomingMessage } from 'node:http';
 * // the balancer's handler serves HTTP/1.x and HTTP/2 requests alike
 * http2.createServer({}, (req) => isHttp2(req as unknown as IncomingMessage)); // true
 * ```
 */
export function isHttp2(req: IncomingMessage): boolean {
  // The stream too: an HTTP/1 request line may claim `HTTP/2.0`, and Node's parser lets it.
  return req.httpVersionMajor === 2 && (req as unknown as { stream?: StreamLike }).stream !== undefined;
}

/**
 * True when the client's side of `res` is gone before the response finished:
 * the socket closed (HTTP/1.1) or the stream was reset or closed (HTTP/2,
 * whose compatibility response has no `destroyed`).
 *
 * @example
 * ```ts
 * import { clientGone } from './http2-compat.js';
 * if (!clientGone(ctx.res)) ctx.res.end(); // else nobody to answer
 * ```
 */
export function clientGone(res: ServerResponse): boolean {
  if (responseFinished(res)) return false;
  const destroyed = (res as { destroyed?: boolean }).destroyed;
  if (destroyed !== undefined) return destroyed;
  return streamOf(res)?.destroyed === true;
}

/**
 * True when the response cannot be written any more (headers gone out, or the
 * client gone): the balancer can only cut the connection or the stream.
 *
 * @example
 * ```ts
 * import { responseClosed } from './http2-compat.js';
 * if (responseClosed(res)) res.destroy();
 * ```
 */
export function responseClosed(res: ServerResponse): boolean {
  if (res.headersSent) return true;
  const destroyed = (res as { destroyed?: boolean }).destroyed;
  if (destroyed !== undefined) return destroyed;
  return streamOf(res)?.destroyed === true;
}

/**
 * The authority of an HTTP/2 request: `:authority`, or `Host` when the client
 * sent no `:authority` (RFC 9113 §8.3.1). Returns `false` when both are present
 * and differ, which RFC 9113 §8.3.1 makes a malformed request. For HTTP/1.x,
 * the `Host` header.
 *
 * @example
 * ```ts
 * import { requestAuthority } from './http2-compat.js';
 * const authority = requestAuthority(req); // 'example.com:8443', undefined, or false
 * ```
 */
export function requestAuthority(req: IncomingMessage): string | undefined | false {
  const host = req.headers.host;
  if (!isHttp2(req)) return host;
  const authority = req.headers[':authority'];
  if (typeof authority !== 'string') return host;
  if (host !== undefined && host.toLowerCase() !== authority.toLowerCase()) return false;
  return authority;
}

/**
 * True when an HTTP/2 request has a body to forward: the client did not end its
 * stream with the HEADERS frame.
 *
 * @example
 * ```ts
 * import { http2HasBody, isHttp2 } from './http2-compat.js';
 * if (isHttp2(req) && http2HasBody(req)) headers['transfer-encoding'] = 'chunked';
 * ```
 */
export function http2HasBody(req: IncomingMessage): boolean {
  return (req as unknown as { stream?: StreamLike }).stream?.endAfterHeaders !== true;
}

/**
 * Header fields HTTP/2 forbids (RFC 9113 §8.2.2): connection-specific fields.
 * `te` is allowed only as `trailers`, checked apart.
 */
export const HTTP2_CONNECTION_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);
