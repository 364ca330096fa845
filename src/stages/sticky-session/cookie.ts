import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { type CookieSpan, MAX_COOKIE_SCAN, scanCookie } from '../../core/net/cookie-scan.js';

export { MAX_COOKIE_SCAN };

/** A sticky cookie value longer than this is not one of ours. */
const MAX_VALUE = 512;

/** Length of the signature kept in the cookie: 22 base64url characters, 132 bits of HMAC-SHA256. */
const SIG_LENGTH = 22;

/** Backends whose last signed value {@link CookieSigner} keeps; past this the memo starts over. */
const MAX_MEMO = 256;

/** Where a cookie sits in a `Cookie` header. */
export interface CookieRange {
  /** Start of `name=value`. */
  readonly start: number;
  /** End of the value (quotes excluded). */
  readonly valueEnd: number;
  /** The value, unquoted. */
  readonly value: string;
}

/**
 * Finds cookie `name` in a `Cookie` header, searching at most
 * {@link MAX_COOKIE_SCAN} characters: a huge or malformed header costs
 * bounded work and never throws. A value cut off by the limit, or an empty
 * one, counts as missing.
 *
 * @example
 * ```ts
 * import { findCookie } from './cookie.js';
 * findCookie('a=1; lb="x.y"', 'lb')?.value; // 'x.y'
 * ```
 */
export function findCookie(header: string, name: string): CookieRange | undefined {
  const span: CookieSpan = { pairStart: 0, start: 0, end: 0, valueEnd: 0 };
  if (!scanCookie(header, name, span)) return undefined;
  return { start: span.pairStart, valueEnd: span.valueEnd, value: header.slice(span.start, span.end) };
}

/**
 * The `Cookie` header without the cookie at `range`, or `undefined` when no
 * cookie is left.
 *
 * @example
 * ```ts
 * import { findCookie, removeCookie } from './cookie.js';
 * const header = 'a=1; lb=x; b=2';
 * removeCookie(header, findCookie(header, 'lb')!); // 'a=1; b=2'
 * ```
 */
export function removeCookie(header: string, range: CookieRange): string | undefined {
  const before = header.slice(0, range.start).replace(/[;\s]+$/, '');
  const after = header.slice(range.valueEnd).replace(/^[;\s]+/, '');
  const rest = before && after ? `${before}; ${after}` : before || after;
  return rest === '' ? undefined : rest;
}

/** Attributes of the cookie the sticky stage sets. */
export interface CookieAttributes {
  readonly path: string;
  readonly domain?: string | undefined;
  readonly maxAgeSeconds: number;
  readonly httpOnly: boolean;
  readonly sameSite: 'Strict' | 'Lax' | 'None';
  readonly secure: boolean;
}

/**
 * A `Set-Cookie` value.
 *
 * @example
 * ```ts
 * import { serializeCookie } from './cookie.js';
 * serializeCookie('lb', 'v', { path: '/', maxAgeSeconds: 3600, httpOnly: true, sameSite: 'Lax', secure: false });
 * // 'lb=v; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax'
 * ```
 */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  let out = `${name}=${value}; Path=${attributes.path}`;
  if (attributes.domain) out += `; Domain=${attributes.domain}`;
  out += `; Max-Age=${attributes.maxAgeSeconds}`;
  if (attributes.httpOnly) out += '; HttpOnly';
  out += `; SameSite=${attributes.sameSite}`;
  if (attributes.secure || attributes.sameSite === 'None') out += '; Secure';
  return out;
}

/**
 * Signs and verifies sticky cookie values `base64url(backendId).expiry.signature`,
 * the signature an HMAC-SHA256 of the rest under the secret. A client can
 * neither name a backend of its choosing nor extend its session. The first
 * secret signs; every secret verifies, so keys can be rotated.
 *
 * @example
 * ```ts
 * import { CookieSigner } from './cookie.js';
 * const signer = new CookieSigner(['a secret of at least thirty-two characters']);
 * const value = signer.sign('b', 1_900_000_000);
 * signer.verify(value, 1_800_000_000); // { id: 'b', expiresAt: 1_900_000_000 }
 * ```
 */
export class CookieSigner {
  readonly #secrets: readonly string[];
  /**
   * The last value signed for each backend: every response in the same second
   * gets the same value, so one HMAC per backend per second, not per response.
   */
  readonly #signed = new Map<string, { expiresAt: number; value: string }>();

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('CookieSigner needs at least one secret');
    this.#secrets = secrets;
  }

  #mac(secret: string, payload: string): string {
    return createHmac('sha256', secret).update(payload).digest('base64url').slice(0, SIG_LENGTH);
  }

  /** A cookie value naming `backendId`, valid until `expiresAt` (Unix seconds). */
  sign(backendId: string, expiresAt: number): string {
    const last = this.#signed.get(backendId);
    if (last !== undefined && last.expiresAt === expiresAt) return last.value;
    const payload = `${Buffer.from(backendId).toString('base64url')}.${expiresAt.toString(36)}`;
    const value = `${payload}.${this.#mac(this.#secrets[0] as string, payload)}`;
    if (last !== undefined) {
      last.expiresAt = expiresAt;
      last.value = value;
    } else {
      if (this.#signed.size >= MAX_MEMO) this.#signed.clear();
      this.#signed.set(backendId, { expiresAt, value });
    }
    return value;
  }

  /**
   * The backend id and expiry (Unix seconds) of a well-signed, unexpired
   * value; `undefined` when it is well signed but expired; `false` when it is
   * malformed or its signature is wrong (forged or tampered).
   */
  verify(value: string, nowSeconds: number): { id: string; expiresAt: number } | false | undefined {
    if (value.length > MAX_VALUE) return false;
    const dot2 = value.lastIndexOf('.');
    const dot1 = dot2 > 0 ? value.lastIndexOf('.', dot2 - 1) : -1;
    if (dot1 <= 0 || value.length - dot2 - 1 !== SIG_LENGTH) return false;
    const payload = value.slice(0, dot2);
    const given = Buffer.from(value.slice(dot2 + 1));
    // Non-ASCII characters would make the lengths differ, and timingSafeEqual throw.
    if (given.length !== SIG_LENGTH) return false;
    let valid = false;
    for (const secret of this.#secrets) {
      // Constant time: how much of a guess matches must not show in the timing.
      if (timingSafeEqual(Buffer.from(this.#mac(secret, payload)), given)) valid = true;
    }
    if (!valid) return false;
    const expiresAt = Number.parseInt(value.slice(dot1 + 1, dot2), 36);
    if (!Number.isSafeInteger(expiresAt)) return false;
    if (expiresAt <= nowSeconds) return undefined;
    const id = Buffer.from(value.slice(0, dot1), 'base64url').toString();
    return id.length > 0 ? { id, expiresAt } : false;
  }
}
