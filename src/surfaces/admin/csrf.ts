/**
 * @module
 * Cross-site request refusal for the admin API once the dashboard is on: a
 * fetch-metadata check (`Sec-Fetch-Site`), an `Origin` check for browsers
 * that send no metadata, and the per-session token the dashboard sends in
 * `X-CSRF-Token` (see `session.ts`). Scripts using the bearer token send
 * neither header, so they pass the first two checks and skip the third.
 */
import type { IncomingMessage } from 'node:http';

/** Methods that change nothing: exempt from CSRF checks. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Header carrying the session's CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';

/**
 * Whether `method` may change state (and so needs the CSRF checks).
 *
 * @example
 * ```ts
 * import { isMutation } from './csrf.js';
 * isMutation('PATCH'); // true
 * isMutation('GET'); // false
 * ```
 */
export function isMutation(method: string | undefined): boolean {
  return !SAFE.has(method ?? 'GET');
}

/**
 * Why a browser request looks cross-site, or `undefined` when it does not:
 * `Sec-Fetch-Site` other than `same-origin` (and `none`, a user's own
 * navigation), or an `Origin` whose host is not the request's `Host`.
 * Requests without either header (curl, scripts) are not judged here.
 *
 * @example
 * ```ts
 * import { crossSite, isMutation } from './csrf.js';
 * declare const refuse: (status: number, reason: string) => void;
 * const reason = crossSite(req);
 * if (reason && isMutation(req.method)) refuse(403, reason);
 * ```
 */
export function crossSite(req: IncomingMessage): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return `the request came from another site (Sec-Fetch-Site: ${site.slice(0, 20)})`;
  }
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return 'the request has an opaque or malformed Origin';
  }
  if (host !== req.headers.host) return 'the request came from another origin';
  return undefined;
}
