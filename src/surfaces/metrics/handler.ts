import { Buffer } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { BalancerStats } from './stats.js';

/** A `(req, res)` handler serving metrics; resolves once the response is written. */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * True when `authorization` is `Bearer <token>`. Both sides are hashed first
 * so the comparison takes the same time whatever the lengths, then compared
 * with `timingSafeEqual`.
 */
export function bearerMatches(authorization: string | undefined, expected: Buffer): boolean {
  let given = '';
  if (authorization !== undefined && authorization.length > 7 && /^bearer /i.test(authorization)) {
    given = authorization.slice(7).trim();
  }
  return timingSafeEqual(digest(given), expected) && given !== '';
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string>, head: boolean): void {
  res.writeHead(status, {
    ...headers,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(head ? undefined : body);
}

/**
 * A handler serving `registry` in the Prometheus text format, or
 * `stats()` as JSON when the query has `format=json`. With a `token`, a
 * request without `Authorization: Bearer <token>` gets a bare 401. Only
 * GET and HEAD are answered (405 otherwise). Without a registry (metrics
 * off) it answers 404.
 *
 * @example
 * ```ts
 * import { createMetricsHandler } from './handler.js';
 * declare const registry: import('prom-client').Registry;
 * const metrics = createMetricsHandler({ registry, stats: () => lb.stats(), token: process.env.METRICS_TOKEN });
 * http.createServer(metrics).listen(9100);
 * ```
 */
export function createMetricsHandler(options: {
  registry: Registry | undefined;
  stats: () => BalancerStats;
  token?: string | undefined;
}): MetricsHandler {
  const { registry, stats } = options;
  const expected = options.token === undefined ? undefined : digest(options.token);
  return async function metricsHandler(req, res) {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      send(res, 405, '', { allow: 'GET, HEAD' }, head);
      return;
    }
    if (expected && !bearerMatches(req.headers.authorization, expected)) {
      send(res, 401, '', { 'www-authenticate': 'Bearer' }, head);
      return;
    }
    if (!registry) {
      send(res, 404, 'metrics are disabled\n', { 'content-type': 'text/plain; charset=utf-8' }, head);
      return;
    }
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const format = query === -1 ? null : new URLSearchParams(url.slice(query + 1)).get('format');
    if (format === 'json') {
      send(res, 200, JSON.stringify(stats()), { 'content-type': 'application/json; charset=utf-8' }, head);
      return;
    }
    let text: string;
    try {
      text = await registry.metrics();
    } catch {
      // A failing user collector must not take the endpoint (or the process) down.
      send(res, 500, '', {}, head);
      return;
    }
    send(res, 200, text, { 'content-type': registry.contentType }, head);
  };
}
