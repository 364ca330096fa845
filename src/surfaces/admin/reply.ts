import { Buffer } from 'node:buffer';
import type { ServerResponse } from 'node:http';

/** Headers of every JSON answer of the admin API. */
const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

/**
 * Sends `body` as a JSON answer (`no-store`, `nosniff`) unless headers went
 * out already, in which case it only ends the response.
 *
 * @example
 * ```ts
 * import { sendJson } from './reply.js';
 * declare const cookie: string;
 * sendJson(res, 200, { backends: [] }, { 'set-cookie': cookie });
 * ```
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
