import type { IncomingMessage } from 'node:http';

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
 * if (hasBody(req)) await bufferRequestBody(ctx, 65536, now);
 * ```
 */
export function hasBody(req: IncomingMessage): boolean {
  const headers = req.headers;
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}
