import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { ConfigError } from '../../core/errors.js';
import { duration, positiveInt } from '../../core/zod.js';

/** RFC 9110 `token`: what a header or cookie name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const secret = z.string().min(32, { error: 'a secret of at least 32 characters (e.g. 32 random bytes, base64)' });

const stickyObjectSchema = z.strictObject({
  /**
   * Where the session comes from: `'cookie'` (the balancer sets a signed
   * cookie naming the backend), `'header'` (a request header carries a
   * session id the app assigns), or `'ip'` (the client address, through
   * `trustProxy`). @default 'cookie'
   */
  mode: z.enum(['cookie', 'header', 'ip']).default('cookie'),
  /**
   * How long a session lasts without traffic, > 0. Each request served by
   * the session's backend extends it (cookies are re-issued once half of it
   * has passed). @default '1h'
   */
  ttl: duration()
    .refine((ms) => ms >= 1000, { error: 'a duration of at least 1s' })
    .default(3_600_000),
  /** Cookie name (cookie mode). @default 'switchyard_sticky' */
  cookieName: z
    .string()
    .regex(TOKEN, { error: 'a cookie name: a non-empty token such as lb' })
    .default('switchyard_sticky'),
  /**
   * HMAC-SHA256 key signing the cookie (cookie mode), at least 32
   * characters; a list rotates keys: the first signs, every one verifies.
   * Every instance behind the same site needs the same secret. Required when
   * `redis` is given; without it each process generates one (with a
   * warning), so cookies do not survive a restart.
   */
  secret: z.union([secret, z.array(secret).min(1)]).optional(),
  /** Cookie `Path`. @default '/' */
  path: z
    .string()
    .regex(/^\/[\x21-\x3a\x3c-\x7e]*$/, { error: 'a path starting with / without ; or spaces' })
    .default('/'),
  /** Cookie `Domain`. @default none (host-only cookie) */
  domain: z
    .string()
    .regex(/^\.?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/, { error: 'a domain such as example.com' })
    .optional(),
  /** Cookie `SameSite`. `'None'` always adds `Secure`, as browsers require. @default 'Lax' */
  sameSite: z.enum(['Strict', 'Lax', 'None']).default('Lax'),
  /** Cookie `HttpOnly`. @default true */
  httpOnly: z.boolean().default(true),
  /**
   * Cookie `Secure`: `'auto'` adds it when the client connection is HTTPS,
   * or a trusted proxy (`trustProxy`) says `X-Forwarded-Proto: https`. @default 'auto'
   */
  secure: z.union([z.literal('auto'), z.boolean()]).default('auto'),
  /**
   * Request header carrying the session id (header mode). When a request
   * has none, the same header on the response starts the session (the
   * backend assigns the id at login). @default 'x-session-id'
   */
  header: z
    .string()
    .regex(TOKEN, { error: 'a header name such as x-session-id' })
    .transform((name) => name.toLowerCase())
    .default('x-session-id'),
  /** Most sessions kept in memory (header and ip modes); the least recently used go first. @default 100000 */
  maxEntries: positiveInt().max(10_000_000).default(100_000),
  /**
   * Keep the session table in the balancer's `redis` (header and ip modes),
   * so every instance routes a session alike. @default true when `redis` is given
   */
  redis: z.boolean().optional(),
  /** Key prefix under the balancer's `redis.keyPrefix`. @default 'sticky:' */
  keyPrefix: z.string().max(128).default('sticky:'),
});

/** The schema of the `sticky` option: off unless given (`false` is off too). */
export const stickySchema = z
  .union([z.literal(false), stickyObjectSchema], {
    error: "false, or sticky-session options such as { mode: 'cookie', secret }",
  })
  .optional();

/**
 * The `sticky` option as written by users.
 */
export interface StickyOptions {
  /**
   * Where the session comes from: `'cookie'` (the balancer sets a signed
   * cookie naming the backend), `'header'` (a request header carries a
   * session id the app assigns), or `'ip'` (the client address, through
   * `trustProxy`). @default 'cookie'
   */
  mode?: 'cookie' | 'header' | 'ip' | undefined;
  /** How long a session lasts without traffic, at least 1 s; each request served by its backend extends it. @default '1h' */
  ttl?: Duration | undefined;
  /** Cookie name (cookie mode). @default 'switchyard_sticky' */
  cookieName?: string | undefined;
  /**
   * HMAC-SHA256 key signing the cookie (cookie mode), at least 32
   * characters; a list rotates keys: the first signs, every one verifies.
   * Required when `redis` is given. @default one generated per process (with a warning)
   */
  secret?: string | string[] | undefined;
  /** Cookie `Path`. @default '/' */
  path?: string | undefined;
  /** Cookie `Domain`. @default none (host-only cookie) */
  domain?: string | undefined;
  /** Cookie `SameSite`; `'None'` always adds `Secure`. @default 'Lax' */
  sameSite?: 'Strict' | 'Lax' | 'None' | undefined;
  /** Cookie `HttpOnly`. @default true */
  httpOnly?: boolean | undefined;
  /** Cookie `Secure`: `'auto'` adds it when the client connection is HTTPS (directly or per a trusted proxy). @default 'auto' */
  secure?: 'auto' | boolean | undefined;
  /** Request header carrying the session id (header mode); the same header on a response starts the session. @default 'x-session-id' */
  header?: string | undefined;
  /** Most sessions kept in memory (header and ip modes), 1 to 10 000 000; the least recently used go first. @default 100000 */
  maxEntries?: number | undefined;
  /** Keep the session table in the balancer's `redis` (header and ip modes). @default true when `redis` is given */
  redis?: boolean | undefined;
  /** Key prefix under the balancer's `redis.keyPrefix`, at most 128 characters. @default 'sticky:' */
  keyPrefix?: string | undefined;
}

/** The `sticky` option after validation and defaults (`ttl` in milliseconds, `header` in lower case). */
export interface ResolvedStickyOptions {
  /** Session source. @default 'cookie' */
  mode: 'cookie' | 'header' | 'ip';
  /** Session lifetime without traffic, ms. @default 3600000 */
  ttl: number;
  /** Cookie name. @default 'switchyard_sticky' */
  cookieName: string;
  /** Signing key or keys, as given. */
  secret?: string | string[] | undefined;
  /** Cookie `Path`. @default '/' */
  path: string;
  /** Cookie `Domain`. */
  domain?: string | undefined;
  /** Cookie `SameSite`. @default 'Lax' */
  sameSite: 'Strict' | 'Lax' | 'None';
  /** Cookie `HttpOnly`. @default true */
  httpOnly: boolean;
  /** Cookie `Secure`. @default 'auto' */
  secure: 'auto' | boolean;
  /** Session header, lower case. @default 'x-session-id' */
  header: string;
  /** Most sessions in memory. @default 100000 */
  maxEntries: number;
  /** Redis session table; undefined: on when `redis` is given. */
  redis?: boolean | undefined;
  /** Redis key prefix. @default 'sticky:' */
  keyPrefix: string;
}

/**
 * Checks what the schema cannot see alone: in cookie mode with `redis`
 * (several instances), a shared `secret` is required; `sticky.redis: true`
 * needs the balancer's `redis`.
 */
export function checkStickyOptions(sticky: ResolvedStickyOptions | false | undefined, hasRedis: boolean): void {
  if (sticky && sticky.redis === true && !hasRedis) {
    throw new ConfigError('sticky.redis', true, "false or unset, unless the balancer's redis option is given");
  }
  if (sticky && sticky.mode === 'cookie' && sticky.secret === undefined && hasRedis) {
    throw new ConfigError(
      'sticky.secret',
      undefined,
      'a secret shared by every instance (at least 32 characters) when redis is given in cookie mode',
    );
  }
}
