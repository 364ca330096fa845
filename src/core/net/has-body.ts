import type { IncomingMessage } from 'node:http';
import { http2HasBody, isHttp2 } from './http2-compat.js';

/**
 * True when the request carries a body (RFC 9112 §6.3: Transfer-Encoding or a
 * non-zero Content-Length). Used by the request entry, the upgrade path and
 * the retry stage.
 *
 * @param req - The client's request.
 * @returns Whether a body follows the headers.
 *
 * @example
 * ```ts
 * import { hasBody } from './has-body.js';
 * import { bufferRequestBody } from '../../stages/retry/request-body.js';
 * if (hasBody(req)) await bufferRequestBody(ctx, 65536, now);
 * ```
 */
export function hasBody(req: IncomingMessage): boolean {
  // HTTP/2 frames the body itself: there is one unless HEADERS ended the stream.
  if (isHttp2(req)) return http2HasBody(req) && req.headers['content-length'] !== '0';
  const headers = req.headers;
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}
