import type { Buffer } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer[ \t]+([^ \t].*?)[ \t]*$/i;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Makes a check of `Authorization: Bearer <token>` headers against `token`.
 * Both sides are hashed (SHA-256) before `crypto.timingSafeEqual`, so the
 * comparison takes the same time whatever the length or content of the
 * guess, and the secret's length does not leak either.
 *
 * @example
 * ```ts
 * import { bearerCheck } from './auth.js';
 * const authorized = bearerCheck(token);
 * if (!authorized(req.headers.authorization)) res.writeHead(401).end();
 * ```
 */
export function bearerCheck(token: string): (header: string | undefined) => boolean {
  const expected = digest(token);
  return function authorized(header) {
    const match = header === undefined ? null : BEARER.exec(header);
    // Hash something even when the header is absent, so absence and a wrong token cost the same.
    const given = digest(match?.[1] ?? '');
    return timingSafeEqual(given, expected) && match !== null;
  };
}

/**
 * Whether `given` equals `expected`, compared like {@link bearerCheck} (both
 * hashed, then `timingSafeEqual`); an absent value never matches.
 *
 * @example
 * ```ts
 * import { sameSecret } from './auth.js';
 * declare const session: import('./session.js').Session;
 * declare const refuse: () => void;
 * if (!sameSecret(req.headers['x-csrf-token'] as string | undefined, session.csrfToken)) refuse();
 * ```
 */
export function sameSecret(given: string | undefined, expected: string): boolean {
  return timingSafeEqual(digest(given ?? ''), digest(expected)) && given !== undefined;
}
