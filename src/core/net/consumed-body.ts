import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { stringify } from 'node:querystring';

/**
 * The bytes to send upstream for a request whose body a middleware before
 * the balancer already read (`express.json()`, `express.urlencoded()`...),
 * re-made from the parsed `req.body` as http-proxy-middleware's
 * `fixRequestBody` does: JSON for a JSON content type, form encoding for
 * `application/x-www-form-urlencoded`. Undefined when the body cannot be
 * re-made (another type, or no parsed `req.body`): the caller then refuses
 * the request at once instead of letting the backend wait for bytes that
 * will never come.
 *
 * @param req - A request whose stream has ended before the balancer read it.
 * @returns The re-encoded body, or undefined.
 *
 * @example
 * ```ts
 * import { consumedBody } from './consumed-body.js';
 * const bytes = consumedBody(req); // Buffer '{"a":1}' after express.json()
 * ```
 */
export function consumedBody(req: IncomingMessage): Buffer | undefined {
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed === undefined || parsed === null) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (Buffer.isBuffer(parsed)) return parsed;
  if (typeof parsed === 'string') return Buffer.from(parsed);
  if (type === 'application/json' || type.endsWith('+json')) return Buffer.from(JSON.stringify(parsed));
  if (type === 'application/x-www-form-urlencoded' && typeof parsed === 'object')
    return Buffer.from(stringify(parsed as Record<string, string>));
  return undefined;
}
