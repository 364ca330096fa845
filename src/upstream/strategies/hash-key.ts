import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { type CookieSpan, MAX_COOKIE_SCAN, scanCookie } from '../../core/net/cookie-scan.js';
import type { SelectionContext } from '../../core/strategy.js';
import { fn, parseOptions } from '../../core/zod.js';
import { murmur3 } from './hash.js';

/**
 * A user function computing the hash key of a request. Returning `undefined`
 * (or anything but a non-empty string), or throwing, falls back to the
 * client IP: a key function never fails a request.
 *
 * @example
 * ```ts
 * import { type HashKeyFunction } from 'switchyard-lb';
 * const byTenant: HashKeyFunction = (req) => req.headers['x-tenant'] as string | undefined;
 * ```
 */
export type HashKeyFunction = (req: IncomingMessage, ctx: SelectionContext) => string | undefined;

/** RFC 9110 `token`: what a header or cookie name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const headerName = () =>
  z
    .string()
    .regex(TOKEN, { error: 'a header name: a non-empty HTTP token such as x-user' })
    .transform((name) => name.toLowerCase());

/**
 * Where a hashing strategy takes its key from:
 * - `'ip'`: the client address (resolved through `trustProxy`);
 * - `{ header, fallback? }`: a request header, else the `fallback` header,
 *   else the client IP;
 * - `{ cookie }`: a cookie, else the client IP;
 * - a function `(req, ctx) => string | undefined`, else the client IP.
 *
 * @example
 * ```ts
 * import { hashKeySchema } from './hash-key.js';
 * hashKeySchema.parse({ header: 'X-User' }); // { header: 'x-user' }
 * ```
 */
export const hashKeySchema = z.union(
  [
    z.literal('ip'),
    z.strictObject({
      /** Request header whose value is the key. Case-insensitive; an empty value counts as missing. */
      header: headerName(),
      /** Header tried when `header` is missing or empty, e.g. `'x-forwarded-for'`; then the client IP. */
      fallback: headerName().optional(),
    }),
    z.strictObject({
      /**
       * Cookie whose value is the key (case-sensitive, as cookie names are).
       * Only the first 16 KiB of the `Cookie` header are searched; a missing
       * or empty cookie falls back to the client IP.
       */
      cookie: z.string().regex(TOKEN, { error: 'a cookie name: a non-empty token such as session' }),
    }),
    fn<HashKeyFunction>(),
  ],
  {
    error:
      "a hash key: 'ip', { header: 'x-user', fallback?: 'x-forwarded-for' }, { cookie: 'session' } or a function (req, ctx) => string | undefined",
  },
);

/**
 * The `key` option of the hashing strategies, as written by users.
 *
 * @example
 * ```ts
 * import { type HashKeyOption } from './hash-key.js';
 * const key: HashKeyOption = { header: 'x-user', fallback: 'x-forwarded-for' };
 * ```
 */
export type HashKeyOption = 'ip' | HeaderHashKeyOptions | CookieHashKeyOptions | HashKeyFunction;

/** A hash key read from a request header: `{ header, fallback? }` in a {@link HashKeyOption}. */
export interface HeaderHashKeyOptions {
  /** Request header whose value is the key. Case-insensitive; an empty value counts as missing. */
  header: string;
  /** Header tried when `header` is missing or empty, e.g. `'x-forwarded-for'`; then the client IP. @default none: the client IP */
  fallback?: string | undefined;
}

/** A hash key read from a cookie: `{ cookie }` in a {@link HashKeyOption}. */
export interface CookieHashKeyOptions {
  /**
   * Cookie whose value is the key (case-sensitive, as cookie names are).
   * Only the first 16 KiB of the `Cookie` header are searched; a missing
   * or empty cookie falls back to the client IP.
   */
  cookie: string;
}

/** Seed of key hashes: distinct from the seeds that place backends, so a key equal to a backend id is not special. */
const KEY_SEED = 0x9747b28c;

export { MAX_COOKIE_SCAN };

/**
 * The key of a request, compiled once from a {@link HashKeyOption}.
 *
 * @example
 * ```ts
 * import { type HashKey, createHashKey } from './hash-key.js';
 * const key: HashKey = createHashKey({ cookie: 'session' });
 * key.hash(req, ctx); // same number for the same session on every instance
 * ```
 */
export interface HashKey {
  /** The key as a string: the header, cookie or function value, or the client IP. */
  key(req: IncomingMessage, ctx: SelectionContext): string;
  /** A 32-bit hash of {@link HashKey.key}, computed without allocating for ip, header and cookie keys. */
  hash(req: IncomingMessage, ctx: SelectionContext): number;
}

/**
 * Compiles a key option. Throws a `ConfigError` naming `path` for a bad one.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are keyed as the IPv4
 * address, so a client keeps its backend whichever way the server socket
 * reports it.
 *
 * @example
 * ```ts
 * import { createHashKey } from './hash-key.js';
 * const key = createHashKey({ header: 'X-User', fallback: 'x-forwarded-for' });
 * key.key(req, ctx); // 'alice', or the fallback header, or ctx.clientAddress
 * ```
 */
export function createHashKey(option: HashKeyOption, path = 'strategy.key'): HashKey {
  const parsed = parseOptions(hashKeySchema, option, path);
  if (parsed === 'ip') return IP_KEY;
  if (typeof parsed === 'function') return new FunctionKey(parsed);
  if ('cookie' in parsed) return new CookieKey(parsed.cookie);
  return new HeaderKey(parsed.header, parsed.fallback);
}

function ipStart(ip: string): number {
  // '::ffff:' + dotted quad: key on the IPv4 part.
  return ip.length > 7 && ip.charCodeAt(0) === 58 && ip.startsWith('::ffff:') && ip.includes('.', 7) ? 7 : 0;
}

function hashIp(ctx: SelectionContext): number {
  const ip = ctx.clientAddress ?? '';
  return murmur3(ip, KEY_SEED, ipStart(ip), ip.length);
}

function keyIp(ctx: SelectionContext): string {
  const ip = ctx.clientAddress ?? '';
  const start = ipStart(ip);
  return start === 0 ? ip : ip.slice(start);
}

const IP_KEY: HashKey = {
  key: (_req, ctx) => keyIp(ctx),
  hash: (_req, ctx) => hashIp(ctx),
};

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers?.[name];
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (Array.isArray(value)) {
    const first = value[0];
    return typeof first === 'string' && first.length > 0 ? first : undefined;
  }
  return undefined;
}

class HeaderKey implements HashKey {
  readonly #name: string;
  readonly #fallback: string | undefined;

  constructor(name: string, fallback: string | undefined) {
    this.#name = name;
    this.#fallback = fallback;
  }

  #value(req: IncomingMessage): string | undefined {
    const value = headerValue(req, this.#name);
    if (value !== undefined || this.#fallback === undefined) return value;
    return headerValue(req, this.#fallback);
  }

  key(req: IncomingMessage, ctx: SelectionContext): string {
    return this.#value(req) ?? keyIp(ctx);
  }

  hash(req: IncomingMessage, ctx: SelectionContext): number {
    const value = this.#value(req);
    return value === undefined ? hashIp(ctx) : murmur3(value, KEY_SEED);
  }
}

// Reused by findCookie so a pick allocates nothing.
const span: CookieSpan = { pairStart: 0, start: 0, end: 0, valueEnd: 0 };
// End of the value found by findCookie.
let cookieEnd = 0;

/**
 * Finds cookie `name` in a `Cookie` header (`a=1; b="2"`), searching at most
 * {@link MAX_COOKIE_SCAN} characters. Returns the value's start index and sets
 * `cookieEnd`, or returns -1. Surrounding double quotes are dropped, as
 * RFC 6265 allows them around a value.
 *
 * @example
 * ```ts
 * import { findCookie } from './hash-key.js';
 * const header = 'a=1; session="xyz"';
 * const start = findCookie(header, 'session'); // 14, where xyz starts (quotes dropped)
 * ```
 */
export function findCookie(header: string, name: string): number {
  if (!scanCookie(header, name, span)) return -1;
  cookieEnd = span.end;
  return span.start;
}

class CookieKey implements HashKey {
  readonly #name: string;

  constructor(name: string) {
    this.#name = name;
  }

  // Node joins repeated Cookie headers with '; '; an array only comes from hand-made requests.
  #header(req: IncomingMessage): string | undefined {
    const value = req.headers?.cookie as string | string[] | undefined;
    if (typeof value === 'string') return value;
    return Array.isArray(value) ? value.join('; ') : undefined;
  }

  key(req: IncomingMessage, ctx: SelectionContext): string {
    const header = this.#header(req);
    const start = header === undefined ? -1 : findCookie(header, this.#name);
    return start === -1 ? keyIp(ctx) : header!.slice(start, cookieEnd);
  }

  hash(req: IncomingMessage, ctx: SelectionContext): number {
    const header = this.#header(req);
    const start = header === undefined ? -1 : findCookie(header, this.#name);
    return start === -1 ? hashIp(ctx) : murmur3(header!, KEY_SEED, start, cookieEnd);
  }
}

class FunctionKey implements HashKey {
  readonly #fn: HashKeyFunction;

  constructor(keyFn: HashKeyFunction) {
    this.#fn = keyFn;
  }

  #value(req: IncomingMessage, ctx: SelectionContext): string | undefined {
    try {
      const value = this.#fn(req, ctx);
      return typeof value === 'string' && value.length > 0 ? value : undefined;
    } catch {
      // A broken key function degrades to IP hashing; it must not fail the request.
      return undefined;
    }
  }

  key(req: IncomingMessage, ctx: SelectionContext): string {
    return this.#value(req, ctx) ?? keyIp(ctx);
  }

  hash(req: IncomingMessage, ctx: SelectionContext): number {
    const value = this.#value(req, ctx);
    return value === undefined ? hashIp(ctx) : murmur3(value, KEY_SEED);
  }
}
