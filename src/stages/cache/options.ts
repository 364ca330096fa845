import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { Context } from '../../core/context.js';
import type { Duration } from '../../core/duration.js';
import { ConfigError } from '../../core/errors.js';
import { duration, fn, positiveInt } from '../../core/zod.js';

/** RFC 9110 `token`: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const headerName = () =>
  z
    .string()
    .regex(TOKEN, { error: 'a header name such as accept-language' })
    .transform((name) => name.toLowerCase());

/**
 * A function adding to the cache key, e.g. a tenant read from a JWT the host
 * app verified. Return a string to add it, `undefined` to add nothing. If it
 * throws, the request bypasses the cache (never served another key's entry).
 */
export type CacheKeyFunction = (req: IncomingMessage, ctx: Context) => string | undefined;

/** Statuses RFC 9110 §15.1 calls heuristically cacheable. */
export const DEFAULT_CACHEABLE_STATUSES = [200, 203, 204, 300, 301, 404, 405, 410, 414, 501] as const;

const cacheObjectSchema = z
  .strictObject({
    /**
     * Freshness of a response that gives none (no `s-maxage`, `max-age` or
     * `Expires`): the heuristic lifetime. `0` caches only responses with
     * explicit freshness. Never applied to requests carrying `Cookie` or
     * `Authorization`. @default '5m'
     */
    ttl: duration().default(300_000),
    /** Longest freshness kept, whatever the response says. @default '24h' */
    maxTtl: duration()
      .refine((ms) => ms >= 1000, { error: 'a duration of at least 1s' })
      .default(86_400_000),
    /** Most entries held (each `Vary` variant counts). @default 1000 */
    maxEntries: positiveInt().max(10_000_000).default(1000),
    /** Most bytes held, bodies, headers and keys counted; least recently used entries go first. @default 64 MiB */
    maxBytes: positiveInt().default(64 * 1024 * 1024),
    /**
     * Largest entry, in bytes. A bigger response streams to the client
     * uncached; it is never buffered whole. Must not exceed `maxBytes`.
     * @default the smaller of 1 MiB and `maxBytes`
     */
    maxEntryBytes: positiveInt().optional(),
    /** Response statuses that may be stored. @default [200, 203, 204, 300, 301, 404, 405, 410, 414, 501] */
    statuses: z
      .array(z.number().int().min(200).max(599))
      .min(1)
      .default([...DEFAULT_CACHEABLE_STATUSES]),
    /** Request headers whose values are part of the key (as if every response said `Vary` on them). @default [] */
    keyHeaders: z.array(headerName()).default([]),
    /** Adds to the key; see {@link CacheKeyFunction}. */
    key: fn<CacheKeyFunction>().optional(),
    /**
     * Paths never cached: a string is a path prefix (`'/api/private'`), a
     * RegExp is tested against the path without the query. @default []
     */
    exclude: z
      .array(
        z.union(
          [
            z.string().startsWith('/', { error: 'a path prefix starting with /' }),
            // A private copy without g/y: testing it is stateless, and the caller's RegExp is left alone.
            z.instanceof(RegExp).transform((re) => new RegExp(re.source, re.flags.replace(/[gy]/g, ''))),
          ],
          { error: "a path prefix such as '/admin' or a RegExp" },
        ),
      )
      .default([]),
    /**
     * Concurrent misses for one key send one request upstream; the others
     * wait for its stored response, at most this long, then go upstream
     * themselves. `0` turns coalescing off. @default '5s'
     */
    coalesceTimeout: duration().default(5000),
    /**
     * Hit-for-miss: once a key's answer turns out uncacheable (`no-store`,
     * `private`, `Set-Cookie`, `Vary: *`, too big, a status not stored...),
     * its misses stop coalescing for this long and each goes upstream at
     * once; a cacheable answer is stored and ends it. `0` turns it off.
     * @default '10s'
     */
    uncacheableTtl: duration().default(10_000),
    /** Name of the header telling `HIT`, `MISS` or `BYPASS`; `false` for none. @default 'x-cache' */
    header: z.union([z.literal(false), headerName()]).default('x-cache'),
    /**
     * A second tier in the balancer's `redis`, shared by every instance:
     * entries up to `maxEntryBytes`, expiring with their freshness. Needs `redis`. @default false
     */
    redis: z.boolean().default(false),
    /** Key prefix under the balancer's `redis.keyPrefix`. @default 'cache:' */
    keyPrefix: z.string().max(128).default('cache:'),
  })
  .superRefine((value, ctx) => {
    if (value.maxEntryBytes !== undefined && value.maxEntryBytes > value.maxBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxEntryBytes'],
        message: `at most maxBytes (${value.maxBytes})`,
        input: value.maxEntryBytes,
      });
    }
  })
  .transform((value) => ({ ...value, maxEntryBytes: value.maxEntryBytes ?? Math.min(1024 * 1024, value.maxBytes) }));

/** The schema of the `cache` option: off unless given (`false` is off too). */
export const cacheSchema = z
  .union([z.literal(false), cacheObjectSchema], {
    error: "false, or response-cache options such as { ttl: '5m', maxEntries: 1000 }",
  })
  .optional();

/**
 * The `cache` option as written by users.
 */
export interface CacheOptions {
  /**
   * Freshness of a response that gives none (no `s-maxage`, `max-age` or
   * `Expires`); milliseconds or a duration string. `0` caches only responses
   * with explicit freshness. Never applied to requests carrying `Cookie` or
   * `Authorization`. @default '5m'
   */
  ttl?: Duration | undefined;
  /** Longest freshness kept, whatever the response says; at least 1 s. @default '24h' */
  maxTtl?: Duration | undefined;
  /** Most entries held (each `Vary` variant counts), 1 to 10 000 000. @default 1000 */
  maxEntries?: number | undefined;
  /** Most bytes held, bodies, headers and keys counted; least recently used entries go first. @default 67108864 (64 MiB) */
  maxBytes?: number | undefined;
  /** Largest entry, in bytes, at most `maxBytes`; a bigger response streams uncached. @default the smaller of 1 MiB and `maxBytes` */
  maxEntryBytes?: number | undefined;
  /** Response statuses that may be stored, 200 to 599. @default [200, 203, 204, 300, 301, 404, 405, 410, 414, 501] */
  statuses?: number[] | undefined;
  /** Request headers whose values are part of the key (as if every response said `Vary` on them). @default [] */
  keyHeaders?: string[] | undefined;
  /** Adds to the key; see {@link CacheKeyFunction}. @default none */
  key?: CacheKeyFunction | undefined;
  /** Paths never cached: a string is a path prefix (`'/api/private'`), a RegExp is tested against the path without the query. @default [] */
  exclude?: (string | RegExp)[] | undefined;
  /**
   * Concurrent misses for one key send one request upstream; the others wait
   * for its stored response at most this long (milliseconds or a duration
   * string). `0` turns coalescing off. @default '5s'
   */
  coalesceTimeout?: Duration | undefined;
  /**
   * Hit-for-miss: once a key's answer turns out uncacheable (`no-store`,
   * `private`, `Set-Cookie`, `Vary: *`, over `maxEntryBytes`, a status not in
   * `statuses`...), concurrent misses for it stop waiting for one another for
   * this long (milliseconds or a duration string): each goes upstream at
   * once. A cacheable answer is stored and ends the mark. Marks are bounded
   * by `maxEntries` (oldest first) and kept per instance, also with `redis`.
   * `0` turns it off. @default '10s'
   */
  uncacheableTtl?: Duration | undefined;
  /** Name of the header telling `HIT`, `MISS` or `BYPASS`; `false` for none. @default 'x-cache' */
  header?: false | string | undefined;
  /** A second tier in the balancer's `redis`, shared by every instance. Needs `redis`. @default false */
  redis?: boolean | undefined;
  /** Key prefix under the balancer's `redis.keyPrefix`, at most 128 characters. @default 'cache:' */
  keyPrefix?: string | undefined;
}

/** The `cache` option after validation and defaults (durations in milliseconds, header names in lower case). */
export interface ResolvedCacheOptions {
  /** Heuristic freshness, ms. @default 300000 */
  ttl: number;
  /** Longest freshness, ms. @default 86400000 */
  maxTtl: number;
  /** Most entries. @default 1000 */
  maxEntries: number;
  /** Most bytes. @default 67108864 */
  maxBytes: number;
  /** Largest entry, bytes. @default the smaller of 1048576 and `maxBytes` */
  maxEntryBytes: number;
  /** Cacheable statuses. */
  statuses: number[];
  /** Key headers, lower case. @default [] */
  keyHeaders: string[];
  /** Your key function. */
  key?: CacheKeyFunction | undefined;
  /** Excluded path prefixes and patterns (RegExps copied without `g`/`y`). @default [] */
  exclude: (string | RegExp)[];
  /** Coalescing wait, ms (0: off). @default 5000 */
  coalesceTimeout: number;
  /** Hit-for-miss mark lifetime, ms (0: off). @default 10000 */
  uncacheableTtl: number;
  /** Cache status header, lower case, or `false`. @default 'x-cache' */
  header: false | string;
  /** Redis second tier. @default false */
  redis: boolean;
  /** Redis key prefix. @default 'cache:' */
  keyPrefix: string;
}

/** Checks what the schema cannot see alone: `cache.redis` needs the balancer's `redis`. */
export function checkCacheOptions(cache: ResolvedCacheOptions | false | undefined, hasRedis: boolean): void {
  if (cache !== false && cache?.redis === true && !hasRedis) {
    throw new ConfigError('cache.redis', true, "false, unless the balancer's redis option is given");
  }
}
