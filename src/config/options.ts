import type { Duplex } from 'node:stream';
import { z } from 'zod';
import { circuitBreakerOption, circuitBreakerSchema } from '../breaker/options.js';
import { cacheSchema } from '../cache/options.js';
import { clusterSchema } from '../cluster/options.js';
import type { RedisClient, RedisSettings } from '../cluster/redis.js';
import { ConfigError } from '../errors.js';
import { isIpOrCidr, isNamedRange } from '../forward/address-list.js';
import {
  healthCheckOption,
  outlierDetectionOption,
  outlierDetectionSchema,
  panicThresholdOption,
} from '../health/options.js';
import { metricsSchema } from '../metrics/options.js';
import { loggerSchema, logLevelSchema, requestIdSchema, tracingSchema } from '../observability/options.js';
import { adaptiveConcurrencySchema, queueSchema } from '../overload/options.js';
import type { Middleware, StageName } from '../pipeline/compose.js';
import { slowStartOptionSchema } from '../pool/slow-start.js';
import { rateLimitSchema } from '../rate-limit/options.js';
import { hedgeSchema, retrySchema } from '../retry/options.js';
import { stickySchema } from '../sticky/options.js';
import { createStrategy, type StrategyOption, strategyOptionSchema } from '../strategies/create-strategy.js';
import { duration, fn, parseOptions, positiveInt } from './zod.js';

export { IDEMPOTENT_METHODS } from '../retry/options.js';

const STAGES = ['rate-limit', 'sticky-session', 'cache', 'retry', 'select', 'circuit-breaker', 'forward'] as const;

const httpUrl = z.string().refine(
  (value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && !url.username && !url.password
    );
  },
  { error: 'an absolute http:// or https:// URL without credentials, e.g. "http://10.0.0.1:8080"' },
);

/** One upstream server. */
export const backendOptionsSchema = z.strictObject({
  /** Stable id, unique within the balancer. @default the URL's host:port */
  id: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[\w.:@[\]-]+$/, { error: 'letters, digits and . _ - : @ [ ] (at most 128 characters)' })
    .optional(),
  /** Base URL of the backend; a path here is prefixed to every request path. */
  url: httpUrl,
  /** Relative weight for weighted strategies, a positive number. @default 1 */
  weight: z.number().finite().positive().max(1_000_000).optional(),
  /** Most requests in flight at once; beyond it the backend is not eligible. @default unlimited */
  maxConnections: positiveInt().optional(),
  /**
   * Opens a connection to this backend instead of TCP/TLS: for in-memory
   * backends (`switchyard/testing`) and custom transports.
   */
  createConnection: fn<(options: object) => Duplex>().optional(),
});

/** Options of one backend, as given to `createLoadBalancer` or `addBackend`. */
export type BackendOptions = z.input<typeof backendOptionsSchema>;

/** Fields `updateBackend` may change. */
export const backendUpdateSchema = z.strictObject({
  weight: z.number().finite().positive().max(1_000_000).optional(),
  maxConnections: z.union([positiveInt(), z.literal(Number.POSITIVE_INFINITY)]).optional(),
});

/** Fields `updateBackend` may change. */
export type BackendUpdate = z.input<typeof backendUpdateSchema>;

const timeoutsSchema = z.strictObject({
  /** Longest wait for a new upstream TCP/TLS connection. @default '5s' */
  connect: duration().default(5000),
  /**
   * Longest wait for response headers once connected, re-armed while the
   * request body is still being sent. @default '60s'
   */
  response: duration().default(60_000),
  /** Longest silence between two chunks of the response body. @default '60s' */
  idle: duration().default(60_000),
  /**
   * Overall deadline from the request's arrival to its response headers:
   * body buffering, queueing, every attempt and backoff included. When it
   * passes the client gets 504 `ERR_DEADLINE`. @default none
   */
  total: duration().optional(),
});

const connectionPoolSchema = z.strictObject({
  /** Most sockets per backend, busy and idle. @default 256 */
  maxSockets: positiveInt().default(256),
  /** Most idle sockets kept per backend. @default 64 */
  maxFreeSockets: positiveInt().default(64),
  /**
   * Idle sockets are closed after this long. Keep it below the backends'
   * keep-alive timeout (Node's default is 5 s) so a request never races a
   * socket the backend is closing. @default '4s'
   */
  idleTimeout: duration().default(4000),
});

const trustProxySchema = z.union(
  [
    z.boolean(),
    z.number().int().min(0).max(64),
    z.array(
      z.string().refine((value) => isNamedRange(value) || isIpOrCidr(value), {
        error: 'an IP address, a CIDR such as "10.0.0.0/8", or loopback/linklocal/uniquelocal',
      }),
    ),
  ],
  { error: 'false, true, a hop count (0-64), or a list of IPs/CIDRs' },
);

const middlewareSchema = z.strictObject({
  /** Name used in errors and by other middleware's `before`/`after`. */
  name: z.string().min(1),
  /** Insert before this stage. */
  before: z.enum(STAGES).optional(),
  /** Insert after this stage. */
  after: z.enum(STAGES).optional(),
  /** The middleware, Koa-style `(ctx, next) => Promise<void>`. */
  handle: fn<Middleware>(),
});

function isRedisClient(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { evalsha?: unknown }).evalsha === 'function' &&
    typeof (value as { duplicate?: unknown }).duplicate === 'function'
  );
}

const redisUrl = z.string().refine((value) => URL.canParse(value) && /^rediss?:$/.test(new URL(value).protocol), {
  error: 'a redis:// or rediss:// URL',
});
const redisClient = z.custom<RedisClient>(isRedisClient, { error: 'an ioredis Redis or Cluster client' });

const redisSchema = z
  .union(
    [
      redisUrl,
      redisClient,
      z.strictObject({
        /** `redis://` or `rediss://` URL; the balancer owns this connection. */
        url: redisUrl.optional(),
        /** An ioredis client the caller owns (use `enableOfflineQueue: false`). */
        client: redisClient.optional(),
        /** Prefix of every key the balancer writes. @default 'switchyard:' */
        keyPrefix: z.string().max(128).optional(),
      }),
    ],
    { error: 'a redis:// URL, an ioredis client, or { url | client, keyPrefix }' },
  )
  .transform((value): RedisSettings => {
    if (typeof value === 'string') return { url: value, keyPrefix: 'switchyard:' };
    if (isRedisClient(value)) return { client: value as RedisClient, keyPrefix: 'switchyard:' };
    const object = value as { url?: string; client?: RedisClient; keyPrefix?: string };
    return { url: object.url, client: object.client, keyPrefix: object.keyPrefix ?? 'switchyard:' };
  });

/** The schema of `createLoadBalancer`'s options. */
export const optionsSchema = z.strictObject({
  /** Upstream servers. More can be added later with `addBackend`. @default [] */
  backends: z.array(backendOptionsSchema).default([]),
  /**
   * How a backend is chosen: a strategy name, `{ name, ...options }`, or an
   * object implementing `Strategy`. @default 'p2c'
   */
  strategy: strategyOptionSchema.optional(),
  /**
   * Ramp the weight of a backend that was just added or just recovered
   * (Envoy's formula), or `false`. @default false
   */
  slowStart: z.union([z.literal(false), slowStartOptionSchema]).default(false),
  /**
   * Rate limits, first stage of the pipeline (see README "Rate limiting"):
   * `{ points, duration, key?, algorithm? }` or `{ limits: [...] }`. In
   * memory, or shared by every instance when `redis` is given. `false` or
   * absent: off. @default off
   */
  rateLimit: rateLimitSchema.optional(),
  /** Retries of failed idempotent requests on another backend, or `false`. */
  retry: z.union([z.literal(false), retrySchema]).default(() => retrySchema.parse({})),
  /** Hedging: after `delay` without response headers, race another attempt on another backend. Needs `retry`. @default false */
  hedge: hedgeSchema.default(false),
  /** Wait queue for requests when every eligible backend is at its connection limit, or `false` (503 at once). */
  queue: queueSchema.default(() => queueSchema.parse({})),
  /** Adaptive per-backend concurrency limit (Netflix concurrency-limits), or `false`. @default false */
  adaptiveConcurrency: adaptiveConcurrencySchema.default(false),
  /** Upstream timeouts. */
  timeouts: timeoutsSchema.default(() => timeoutsSchema.parse({})),
  /** Keep-alive connection pool per backend. */
  connectionPool: connectionPoolSchema.default(() => connectionPoolSchema.parse({})),
  /**
   * Which HTTP client sends requests upstream: `'undici'` (a `Pool` per
   * backend, the faster one) or `'http-proxy-3'` (a keep-alive `http.Agent`
   * per backend). Both follow the same header, framing, timeout, error and
   * retry rules; WebSocket upgrades always go through http-proxy-3, and so do
   * chunked request bodies on `'undici'` (it cannot send request trailers).
   * @default 'undici'
   */
  forwarder: z.enum(['undici', 'http-proxy-3']).default('undici'),
  /**
   * Which peers may set `X-Forwarded-*` and `Forwarded`: `false` (none: the
   * socket peer is the client), `true` (all: only behind a proxy that always
   * overwrites them), a hop count, or a list of IPs/CIDRs. @default false
   */
  trustProxy: trustProxySchema.default(false),
  /** Pseudonym added to `Via`, or `false` to add none. @default 'switchyard' */
  via: z.union([z.literal(false), z.string().regex(/^[\w.-]+$/)]).default('switchyard'),
  /** Send the client's `Host` upstream (true) or the backend's host (false). @default true */
  preserveHost: z.boolean().default(true),
  /** How long `removeBackend(id, { drain: true })` and `close()` wait for in-flight requests. @default '30s' */
  drainTimeout: duration().default(30_000),
  /** User middleware, each inserted before or after a named stage (default: before `forward`). */
  middleware: z.array(middlewareSchema).default([]),
  /**
   * Shared state across balancer instances: rate limits, sticky sessions, the
   * cache and membership. A `redis://` URL, an ioredis client, or
   * `{ url | client, keyPrefix }`. Off unless given: one process needs nothing external.
   */
  redis: redisSchema.optional(),
  /** Shared backend membership across instances (`{ membership: true, channel? }`, needs `redis`), or `false`. @default false */
  cluster: clusterSchema,
  /**
   * Sticky sessions: keep a client on one backend, by signed cookie, header
   * or client IP, with a TTL and fallback. Off unless given.
   */
  sticky: stickySchema,
  /** Response cache for GET and HEAD (RFC 9111 shared-cache rules). Off unless given. */
  cache: cacheSchema,
  // --- resilience (issue #4): active health checks, outlier detection, panic threshold, breakers ---
  /** Active health checks per backend (`{ path, interval, timeout, ... }`), or `false`. Off unless given. */
  healthCheck: healthCheckOption.default(false),
  /** Passive outlier detection from every upstream outcome, or `false`. @default on, with Envoy's numbers */
  outlierDetection: outlierDetectionOption.default(() => outlierDetectionSchema.parse({})),
  /** Below this percentage of available backends, spread load over all of them (0 turns it off). @default 50 */
  panicThreshold: panicThresholdOption.default(50),
  /** A circuit breaker per backend (opossum), or `false`. @default on */
  circuitBreaker: circuitBreakerOption.default(() => circuitBreakerSchema.parse({})),
  /**
   * Prometheus metrics (prom-client) and the `stats()` latency window:
   * `{ registry?, prefix?, buckets?, defaultLabels?, token?, window? }`, or
   * `false`. @default on, in a new Registry per balancer
   */
  metrics: z.union([z.literal(false), metricsSchema]).default(() => metricsSchema.parse({})),
  /** Where to log (a pino-compatible logger). @default none: silent */
  logger: loggerSchema.optional(),
  /** Level of the per-request line of a request that went well (5xx: `error`, cut short: `warn`). @default 'info' */
  logLevel: logLevelSchema.default('info'),
  /** Request ids: `{ header }` or `false`. @default { header: 'x-request-id' } */
  requestId: requestIdSchema,
  /** W3C `traceparent` propagation: `{ propagate }` or `false`. @default { propagate: true } */
  tracing: tracingSchema,
  /** Monotonic clock in milliseconds, injectable for tests. @default performance.now */
  now: fn<() => number>().optional(),
  /** Random source in [0, 1), injectable for tests. @default Math.random */
  random: fn<() => number>().optional(),
});

// `strategy` at run time: validated by createStrategy itself (as at build time), so errors name the sub-option.
const runtimeStrategy = z.unknown().transform((value, ctx) => {
  try {
    createStrategy(value as StrategyOption);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    ctx.addIssue({ code: 'custom', path: error.path.split('.').slice(1), message: error.expected, input: value });
    return z.NEVER;
  }
  // Kept as given, as at build time (see resolveOptions).
  return value as ResolvedOptions['strategy'];
});

/**
 * Sections `lb.configure()` can change at run time, each validated by the
 * same schema as at build time. Add a section here and its updater in
 * `createLoadBalancer`.
 */
export const runtimeSections = {
  healthCheck: healthCheckOption,
  outlierDetection: outlierDetectionOption,
  circuitBreaker: circuitBreakerOption,
  panicThreshold: panicThresholdOption,
  strategy: runtimeStrategy,
  retry: z.union([z.literal(false), retrySchema]),
  rateLimit: rateLimitSchema,
} as const;

/** Sections a `configure()` patch replaces whole rather than merging into (their fields depend on a name or form). */
export const replacedSections = ['strategy', 'rateLimit'] as const;

/** A partial update for `lb.configure()`: each section given is merged into its current options. */
export type ConfigurePatch = { [K in keyof typeof runtimeSections]?: z.input<(typeof runtimeSections)[K]> };

/** Options of `createLoadBalancer`. */
export type LoadBalancerOptions = z.input<typeof optionsSchema>;
/** Options after validation and defaults. */
export type ResolvedOptions = z.output<typeof optionsSchema>;
export type { HedgeOptions, RetryOptions } from '../retry/options.js';
/** Resolved timeouts. */
export type Timeouts = z.output<typeof timeoutsSchema>;
/** Resolved connection pool settings. */
export type ConnectionPoolOptions = z.output<typeof connectionPoolSchema>;
/** `trustProxy` as given. */
export type TrustProxy = z.output<typeof trustProxySchema>;
/** A user middleware entry. */
export type MiddlewareEntry = z.output<typeof middlewareSchema>;
export type { StageName };

/** Validates options and resolves defaults, throwing `ConfigError` on the first problem. */
export function resolveOptions(input: unknown): ResolvedOptions {
  if (input === undefined) input = {};
  if (typeof input !== 'object' || input === null || !('strategy' in input)) return parseOptions(optionsSchema, input);
  // The strategy is validated by createStrategy, whose errors name the exact
  // sub-option (`strategy.tableSize`) where the union schema could only say `strategy`.
  const { strategy, ...rest } = input as { strategy?: unknown };
  return { ...parseOptions(optionsSchema, rest), strategy: strategy as ResolvedOptions['strategy'] };
}
