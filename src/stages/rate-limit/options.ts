import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { duration, fn, positiveInt } from '../../core/zod.js';
import { isIpOrCidr } from './ip-list.js';
import type { RateLimitKeyFunction } from './keys.js';
import type { Algorithm, Limiter } from './limiter.js';
import { DEFAULT_MAX_KEYS } from './sweep.js';

/** RFC 9110 `token`: what a header name is made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Most points a built-in limit may allow. */
const MAX_POINTS = 1_000_000_000;
/** Longest window or refill period. */
const MAX_DURATION = 366 * 86_400_000;
/**
 * Sliding windows and token buckets compute on `points × duration(ms)` as
 * integers (in JS and in Redis's Lua, both doubles): this bound keeps every
 * intermediate value exact.
 */
const MAX_SCALED = 2 ** 50;

const algorithmSchema = z.enum(['fixed-window', 'sliding-window', 'token-bucket'], {
  error: "'fixed-window', 'sliding-window' or 'token-bucket'",
});

const keySchema = z.union(
  [
    z.literal('ip'),
    z.literal('route'),
    z.strictObject({
      /** Request header whose value is the key (case-insensitive); a missing or empty header falls back to the IP. */
      header: z
        .string()
        .regex(TOKEN, { error: 'a header name such as x-api-key' })
        .transform((name) => name.toLowerCase()),
    }),
    z.strictObject({
      /**
       * Path prefixes (`'/api/'`) or patterns (`/^\/users\/\d+$/`): a request
       * counts against the first entry its path matches (all clients and
       * methods together); a path matching none is not limited by this limit.
       */
      route: z
        .array(
          z.union([z.string().startsWith('/'), z.instanceof(RegExp)], {
            error: "a path prefix starting with '/' or a RegExp",
          }),
        )
        .min(1),
    }),
    fn<RateLimitKeyFunction>(),
  ],
  {
    error:
      "a key: 'ip', 'route', { header: 'x-api-key' }, { route: ['/api/', /^\\/x/] } or a function (ctx) => string | undefined",
  },
);

const nameSchema = z.string().regex(/^[\w.-]{1,64}$/, { error: 'a name of 1 to 64 letters, digits, _ . -' });

const limitFields = {
  /** Unique name: used in events and Redis keys. @default `${points}-per-${durationMs}ms` */
  name: nameSchema.optional(),
  /** Algorithm of this limit. @default the top-level `algorithm` */
  algorithm: algorithmSchema.optional(),
  /** Requests allowed per `duration` (a token bucket's refill per `duration`), 1 to 1e9. */
  points: positiveInt().max(MAX_POINTS),
  /** The window, or the time a token bucket takes to refill `points`; > 0, at most 366 days. Fixed windows: whole seconds. */
  duration: duration(),
  /** Once refused, a key stays refused this long. Fixed windows: whole seconds. @default 0 (refused only until points are back) */
  blockDuration: duration().default(0),
  /** Token bucket only: capacity, the largest burst. @default points */
  burst: positiveInt().max(MAX_POINTS).optional(),
  /** What the limit counts by. @default the top-level `key` */
  key: keySchema.optional(),
};

const limitSchema = z.strictObject(limitFields);

const customLimitSchema = z.strictObject({
  /** Your own limiter: an object implementing `Limiter`. */
  limiter: z.custom<Limiter>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      typeof (value as { consume?: unknown }).consume === 'function' &&
      typeof (value as { name?: unknown }).name === 'string',
    { error: 'an object with a name and consume(key, points)' },
  ),
  /** What the limit counts by. @default the top-level `key` */
  key: keySchema.optional(),
});

const rateLimitObject = z
  .strictObject({
    /**
     * What limits count by: `'ip'` (the client address, through
     * `trustProxy`), `'route'` (method and path, query excluded, all clients
     * together), `{ header }`, `{ route: [prefixes or RegExps] }`, or a
     * function `(ctx) => string | undefined`. @default 'ip'
     */
    key: keySchema.default('ip'),
    /** Default algorithm of every limit. @default 'fixed-window' */
    algorithm: algorithmSchema.default('fixed-window'),
    /** Shorthand for one limit: requests per `duration`. Give either this or `limits`. */
    points: limitFields.points.optional(),
    /** Shorthand for one limit: the window. */
    duration: limitFields.duration.optional(),
    /** Shorthand for one limit: how long a refused key stays refused. @default 0 */
    blockDuration: duration().optional(),
    /** Shorthand for one limit: token bucket capacity. @default points */
    burst: limitFields.burst,
    /**
     * Several limits, all of which a request must pass, checked in order; a
     * request refused by one is refunded to the ones before it and never
     * reaches the ones after it.
     */
    limits: z
      .array(z.union([limitSchema, customLimitSchema]))
      .min(1)
      .optional(),
    /** Send `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (and `RateLimit-Policy`) on every response. @default true */
    headers: z.boolean().default(true),
    /** IPs/CIDRs never limited (health checkers, internal callers). @default [] */
    allow: z.array(z.string().refine(isIpOrCidr, { error: 'an IP address or a CIDR such as 10.0.0.0/8' })).default([]),
    /** IPs/CIDRs always refused with 403 `ERR_FORBIDDEN`. @default [] */
    deny: z.array(z.string().refine(isIpOrCidr, { error: 'an IP address or a CIDR such as 10.0.0.0/8' })).default([]),
    /** Key IPv6 clients by their network of this many bits (`false`: the full address). @default 64 */
    ipv6Subnet: z.union([z.literal(false), z.number().int().min(8).max(128)]).default(64),
    /**
     * With `redis`, while Redis cannot answer: `'insurance'` (count in
     * memory, per instance, until Redis is back), `'allow'` (let everything
     * through) or `'deny'` (503 `ERR_RATE_LIMIT_UNAVAILABLE`). @default 'insurance'
     */
    onRedisError: z.enum(['insurance', 'allow', 'deny']).default('insurance'),
    /**
     * With `redis` and `onRedisError: 'insurance'`: how many instances share
     * the limit while Redis is away. Each instance's insurance limiter then
     * admits `1 / n` of every limit (a request is charged n times its cost),
     * so n instances together stay near the global limit instead of n times
     * it. A count (the instances you run), or `'live'`: the instances the
     * cluster registry saw alive before the outage (needs `cluster`; 1
     * without it). @default 1 (each instance admits the full limit)
     */
    outageInstances: z.union([z.number().int().min(1).max(100_000), z.literal('live')]).default(1),
    /**
     * Most keys each built-in limit holds in memory (its in-memory store, or
     * its insurance with `redis`): when full of live keys, the least recently
     * used one is dropped to make way (it starts afresh if it returns), so
     * attacker-chosen keys cannot grow memory without bound. About 200 bytes
     * a key: 100,000 keys are some 20 MB per limit. 1 to 1e8. @default 100000
     */
    maxKeys: positiveInt().max(100_000_000).default(DEFAULT_MAX_KEYS),
  })
  .superRefine((value, ctx) => {
    const shorthand = value.points !== undefined || value.duration !== undefined;
    if (shorthand && value.limits) {
      ctx.addIssue({ code: 'custom', path: ['limits'], message: 'either points/duration or limits, not both' });
      return;
    }
    if (!shorthand && !value.limits) {
      ctx.addIssue({ code: 'custom', path: ['points'], message: 'points and duration (or limits)' });
      return;
    }
    if (shorthand && (value.points === undefined || value.duration === undefined)) {
      const missing = value.points === undefined ? 'points' : 'duration';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'points and duration together' });
      return;
    }
    const entries = value.limits ?? [
      { points: value.points, duration: value.duration, blockDuration: value.blockDuration ?? 0, burst: value.burst },
    ];
    const names = new Set<string>();
    entries.forEach((entry, i) => {
      const path = value.limits ? ['limits', i] : [];
      if ('limiter' in entry) {
        checkName(entry.limiter.name, [...path, 'limiter', 'name']);
        return;
      }
      const algorithm = ('algorithm' in entry ? entry.algorithm : undefined) ?? value.algorithm;
      const points = entry.points as number;
      const ms = entry.duration as number;
      if (!(ms > 0) || ms > MAX_DURATION) {
        ctx.addIssue({ code: 'custom', path: [...path, 'duration'], message: 'a duration > 0 and at most 366 days' });
      } else if (algorithm === 'fixed-window' && (ms % 1000 !== 0 || entry.blockDuration % 1000 !== 0)) {
        const field = ms % 1000 !== 0 ? 'duration' : 'blockDuration';
        ctx.addIssue({
          code: 'custom',
          path: [...path, field],
          message: "whole seconds for a fixed window (use 'sliding-window' or 'token-bucket' for finer windows)",
        });
      }
      const capacity = Math.max(points, entry.burst ?? 0);
      if (algorithm !== 'fixed-window' && ms > 0 && capacity * ms > MAX_SCALED) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'points'],
          message: `points (and burst) × duration in ms at most 2^50 for ${algorithm}`,
        });
      }
      if (entry.burst !== undefined && algorithm !== 'token-bucket') {
        ctx.addIssue({ code: 'custom', path: [...path, 'burst'], message: "burst only with algorithm 'token-bucket'" });
      }
      checkName(('name' in entry ? entry.name : undefined) ?? `${points}-per-${ms}ms`, [...path, 'name']);
    });

    function checkName(name: string, path: PropertyKey[]) {
      if (names.has(name)) ctx.addIssue({ code: 'custom', path, message: 'a name no other limit uses' });
      names.add(name);
    }
  });

function normalize(value: z.output<typeof rateLimitObject>) {
  const limits: ResolvedLimit[] = (
    value.limits ?? [
      {
        points: value.points as number,
        duration: value.duration as number,
        blockDuration: value.blockDuration ?? 0,
        burst: value.burst,
      },
    ]
  ).map((entry) => {
    if ('limiter' in entry) {
      // Not enumerable: the balancer freezes its resolved config, and this object is the caller's, with live state.
      const custom = { kind: 'custom', key: entry.key ?? value.key } as {
        kind: 'custom';
        key: ResolvedKey;
        limiter: Limiter;
      };
      Object.defineProperty(custom, 'limiter', { value: entry.limiter, enumerable: false });
      return custom;
    }
    const algorithm = ('algorithm' in entry ? entry.algorithm : undefined) ?? value.algorithm;
    return {
      kind: 'builtin',
      name: ('name' in entry ? entry.name : undefined) ?? `${entry.points}-per-${entry.duration}ms`,
      algorithm,
      points: entry.points,
      durationMs: entry.duration,
      blockDurationMs: entry.blockDuration,
      burst: algorithm === 'token-bucket' ? (entry.burst ?? entry.points) : undefined,
      key: ('key' in entry ? entry.key : undefined) ?? value.key,
    };
  });
  return {
    limits,
    headers: value.headers,
    allow: value.allow,
    deny: value.deny,
    ipv6Subnet: value.ipv6Subnet,
    onRedisError: value.onRedisError,
    outageInstances: value.outageInstances,
    maxKeys: value.maxKeys,
  };
}

/**
 * The `rateLimit` option: `false`, or one limit (`points`, `duration`) or
 * several (`limits`), resolved to a list of limits. (The transform sits
 * outside the union so that a mistake inside reports its own path.)
 */
export const rateLimitSchema = z
  .union([z.literal(false), rateLimitObject])
  .transform((value) => (value === false ? false : normalize(value)));

/**
 * The `rateLimit` option as users write it (or `false`): one limit
 * (`points`, `duration`) or several (`limits`).
 */
export interface RateLimitOptions {
  /**
   * What limits count by: `'ip'` (the client address, through
   * `trustProxy`), `'route'` (method and path, query excluded, all clients
   * together), `{ header }`, `{ route: [prefixes or RegExps] }`, or a
   * function `(ctx) => string | undefined`. @default 'ip'
   */
  key?: RateLimitKeyOption | undefined;
  /** Default algorithm of every limit. @default 'fixed-window' */
  algorithm?: Algorithm | undefined;
  /** Shorthand for one limit: requests per `duration`, 1 to 1e9. Give either this and `duration`, or `limits`. */
  points?: number | undefined;
  /** Shorthand for one limit: the window; milliseconds or a duration string, > 0, at most 366 days (fixed windows: whole seconds). */
  duration?: Duration | undefined;
  /** Shorthand for one limit: how long a refused key stays refused. @default 0 */
  blockDuration?: Duration | undefined;
  /** Shorthand for one limit: token bucket capacity, the largest burst (token-bucket only). @default points */
  burst?: number | undefined;
  /**
   * Several limits, all of which a request must pass, checked in order; a
   * request refused by one is refunded to the ones before it.
   */
  limits?: (RateLimitLimitOptions | CustomRateLimitOptions)[] | undefined;
  /** Send `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (and `RateLimit-Policy`) on every response. @default true */
  headers?: boolean | undefined;
  /** IPs/CIDRs never limited (health checkers, internal callers). @default [] */
  allow?: string[] | undefined;
  /** IPs/CIDRs always refused with 403 `ERR_FORBIDDEN`. @default [] */
  deny?: string[] | undefined;
  /** Key IPv6 clients by their network of this many bits, 8 to 128 (`false`: the full address). @default 64 */
  ipv6Subnet?: false | number | undefined;
  /**
   * With `redis`, while Redis cannot answer: `'insurance'` (count in memory,
   * per instance), `'allow'` (let everything through) or `'deny'` (503
   * `ERR_RATE_LIMIT_UNAVAILABLE`). @default 'insurance'
   */
  onRedisError?: 'insurance' | 'allow' | 'deny' | undefined;
  /**
   * With `redis` and `onRedisError: 'insurance'`: how many instances share
   * the limit while Redis is away (each admits `1 / n` of every limit), 1 to
   * 100 000, or `'live'` (the instances the cluster registry saw alive).
   * @default 1 (each instance admits the full limit)
   */
  outageInstances?: number | 'live' | undefined;
  /** Most keys each built-in limit holds in memory (about 200 bytes a key), 1 to 1e8. @default 100000 */
  maxKeys?: number | undefined;
}

/** One built-in limit in {@link RateLimitOptions.limits}. */
export interface RateLimitLimitOptions {
  /** Unique name, 1 to 64 letters, digits, `_ . -`: used in events and Redis keys. @default `${points}-per-${durationMs}ms` */
  name?: string | undefined;
  /** Algorithm of this limit. @default the top-level `algorithm` */
  algorithm?: Algorithm | undefined;
  /** Requests allowed per `duration` (a token bucket's refill per `duration`), 1 to 1e9. Required. */
  points: number;
  /** The window, or the time a token bucket takes to refill `points`; milliseconds or a duration string, > 0, at most 366 days (fixed windows: whole seconds). Required. */
  duration: Duration;
  /** Once refused, a key stays refused this long (fixed windows: whole seconds). @default 0 (refused only until points are back) */
  blockDuration?: Duration | undefined;
  /** Token bucket only: capacity, the largest burst, 1 to 1e9. @default points */
  burst?: number | undefined;
  /** What the limit counts by. @default the top-level `key` */
  key?: RateLimitKeyOption | undefined;
}

/** Your own limiter in {@link RateLimitOptions.limits}. */
export interface CustomRateLimitOptions {
  /** Your own limiter: an object implementing `Limiter`. Required. */
  limiter: Limiter;
  /** What the limit counts by. @default the top-level `key` */
  key?: RateLimitKeyOption | undefined;
}

/**
 * What a rate limit counts by, as you pass it: `'ip'`, `'route'`, a request
 * header (`{ header }`, case-insensitive; a missing or empty header falls
 * back to the IP), path prefixes or patterns (`{ route: [...] }`: a request
 * counts against the first entry its path matches; a path matching none is
 * not limited), or a function.
 */
export type RateLimitKeyOption =
  | 'ip'
  | 'route'
  | { header: string }
  | { route: (string | RegExp)[] }
  | RateLimitKeyFunction;

/** The `rateLimit` option once validated: every limit spelled out. */
export interface ResolvedRateLimitOptions {
  /** Every limit, in order, with names and defaults filled in. */
  limits: ResolvedLimit[];
  /** Send `RateLimit-*` headers. @default true */
  headers: boolean;
  /** IPs/CIDRs never limited. @default [] */
  allow: string[];
  /** IPs/CIDRs always refused. @default [] */
  deny: string[];
  /** IPv6 key prefix length, or `false`. @default 64 */
  ipv6Subnet: false | number;
  /** Behaviour while Redis cannot answer. @default 'insurance' */
  onRedisError: 'insurance' | 'allow' | 'deny';
  /** Instances sharing the limit during an outage. @default 1 */
  outageInstances: number | 'live';
  /** Most keys per built-in limit. @default 100000 */
  maxKeys: number;
}
/**
 * What a limit counts by, resolved (header names in lower case).
 */
export type ResolvedKey = RateLimitKeyOption;

/** One limit of {@link ResolvedRateLimitOptions}. */
export type ResolvedLimit =
  | {
      readonly kind: 'builtin';
      readonly name: string;
      readonly algorithm: Algorithm;
      readonly points: number;
      readonly durationMs: number;
      readonly blockDurationMs: number;
      readonly burst: number | undefined;
      readonly key: ResolvedKey;
    }
  | { readonly kind: 'custom'; readonly limiter: Limiter; readonly key: ResolvedKey };
