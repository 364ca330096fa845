import { z } from 'zod';
import { checkClusterOptions, clusterSchema } from '../control/cluster/options.js';
import { ConfigError } from '../core/errors.js';
import { trustProxySchema } from '../core/net/trust-proxy-options.js';
import { checkRedisKeyPrefix, type RedisClient, type RedisSettings } from '../core/redis.js';
import { duration, fn, parseOptions } from '../core/zod.js';
import type { CircuitBreakerOptions } from '../stages/circuit-breaker/options.js';
import { replacedStageSections, runtimeStageSections, STAGES, type StageName, stageSections } from '../stages/index.js';
import { middlewareSchema } from '../stages/pipeline.js';
import type { RateLimitOptions } from '../stages/rate-limit/options.js';
import { hedgeSchema, type RetryOptions } from '../stages/retry/options.js';
import type { ErrorHandler } from '../surfaces/error-response.js';
import { metricsSchema } from '../surfaces/metrics/options.js';
import { loggerSchema, logLevelSchema, requestIdSchema, tracingSchema } from '../surfaces/observability/options.js';
import { rewriteSchema } from '../surfaces/rewrite.js';
import { connectionPoolSchema, timeoutsSchema } from '../upstream/forwarder/options.js';
import {
  type HealthCheckOptions,
  healthCheckOption,
  type OutlierDetectionOptions,
  outlierDetectionOption,
  outlierDetectionSchema,
  panicThresholdOption,
} from '../upstream/health/options.js';
import { adaptiveConcurrencySchema, queueSchema } from '../upstream/overload/options.js';
import { backendOptionsSchema } from '../upstream/pool/options.js';
import { slowStartOptionSchema } from '../upstream/pool/slow-start.js';
import { createStrategy, type StrategyOption, strategyOptionSchema } from '../upstream/strategies/create-strategy.js';

export { IDEMPOTENT_METHODS } from '../stages/retry/options.js';

function isRedisClient(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { evalsha?: unknown }).evalsha === 'function' &&
    typeof (value as { duplicate?: unknown }).duplicate === 'function'
  );
}

/** With a Redis Cluster client every key must share one slot: the default prefix carries a hash tag. */
function defaultKeyPrefix(client: RedisClient | undefined): string {
  return client?.isCluster === true ? '{switchyard}:' : 'switchyard:';
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
        /**
         * Prefix of every key the balancer writes. With an ioredis `Cluster`
         * client it must contain a hash tag (`'{edge}:'`) so every key lands in
         * one slot (scripts touch several keys); an untagged one is a
         * `ConfigError`. @default 'switchyard:' ('{switchyard}:' with a `Cluster` client)
         */
        keyPrefix: z.string().max(128).optional(),
      }),
    ],
    { error: 'a redis:// URL, an ioredis client, or { url | client, keyPrefix }' },
  )
  .transform((value): RedisSettings => {
    if (typeof value === 'string') return { url: value, keyPrefix: 'switchyard:' };
    if (isRedisClient(value))
      return { client: value as RedisClient, keyPrefix: defaultKeyPrefix(value as RedisClient) };
    const object = value as { url?: string; client?: RedisClient; keyPrefix?: string };
    return { url: object.url, client: object.client, keyPrefix: object.keyPrefix ?? defaultKeyPrefix(object.client) };
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
  // The stages' sections (rateLimit, sticky, cache, retry, circuitBreaker), from STAGES: each is documented in its stage's folder.
  ...stageSections,
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
   * Path rewriting for every request and upgrade: `{ prefix, to }` replaces a
   * leading path (whole segments; `to: '/'` strips it), or
   * `(path, req) => string` returns the target the backend gets (a path
   * starting with `/`; anything else answers 500 `ERR_MIDDLEWARE`). Runs after
   * an Express mount path is stripped. @default none
   */
  rewrite: rewriteSchema.optional(),
  /**
   * Renders the responses the balancer makes itself (upstream failures,
   * refusals, bad requests) in your format: `(error, req, res)`, see
   * `ErrorHandler`. Without it, or when it sends nothing, the client gets
   * `{ "error": { "code", "message" } }` as JSON. @default none
   */
  onError: fn<ErrorHandler>().optional(),
  /**
   * Shared state across balancer instances: rate limits, sticky sessions, the
   * cache and membership. A `redis://` URL, an ioredis client, or
   * `{ url | client, keyPrefix }`. Off unless given: one process needs nothing external.
   */
  redis: redisSchema.optional(),
  /** Shared backend membership across instances (`{ membership: true, channel? }`, needs `redis`), or `false`. @default false */
  cluster: clusterSchema,
  // --- resilience (issue #4): active health checks, outlier detection, panic threshold, breakers ---
  /** Active health checks per backend (`{ path, interval, timeout, ... }`), or `false`. Off unless given. */
  healthCheck: healthCheckOption.default(false),
  /** Passive outlier detection from every upstream outcome, or `false`. @default on, with Envoy's numbers */
  outlierDetection: outlierDetectionOption.default(() => outlierDetectionSchema.parse({})),
  /** Below this percentage of available backends, spread load over all of them (0 turns it off). @default 50 */
  panicThreshold: panicThresholdOption.default(50),
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
 * same schema as at build time: the upstream machinery's here (their
 * updaters are in `control/pipeline-host.ts`), the stages' from `STAGES`.
 */
export const runtimeSections = {
  healthCheck: healthCheckOption,
  outlierDetection: outlierDetectionOption,
  panicThreshold: panicThresholdOption,
  strategy: runtimeStrategy,
  ...runtimeStageSections,
} as const;

/** Sections a `configure()` patch replaces whole rather than merging into (their fields depend on a name or form). */
export const replacedSections = ['strategy', ...replacedStageSections] as const;

/**
 * A partial update for `lb.configure()`: each section given is merged into its current options.
 */
export interface ConfigurePatch {
  /** Active health checks, merged into the current ones, or `false` to stop them. */
  healthCheck?: false | HealthCheckOptions | undefined;
  /** Passive outlier detection, merged into the current settings, or `false` to turn it off. */
  outlierDetection?: false | OutlierDetectionOptions | undefined;
  /** Panic threshold, percent of available backends (0 to 100; 0 turns it off). */
  panicThreshold?: number | undefined;
  /** A new strategy, replacing the current one whole: a name, `{ name, ...options }` or a `Strategy` object. */
  strategy?: StrategyOption | undefined;
  /** Retries, merged into the current settings, or `false` to stop retrying. */
  retry?: false | RetryOptions | undefined;
  /** Circuit breakers, merged into the current settings, or `false` to remove them. */
  circuitBreaker?: false | CircuitBreakerOptions | undefined;
  /** Rate limits, replacing the current ones whole, or `false` to remove them. */
  rateLimit?: false | RateLimitOptions | undefined;
}

export type { LoadBalancerOptions } from './load-balancer-options.js';
/** Options after validation and defaults. */
export type ResolvedOptions = z.output<typeof optionsSchema>;
export type { HedgeOptions, RetryOptions } from '../stages/retry/options.js';
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

/**
 * Checks between sections, after each passed its own schema: each stage's
 * `check` (in pipeline order), then the cluster and hedge requirements.
 */
export function checkOptions(config: ResolvedOptions): void {
  const env = { redis: config.redis !== undefined };
  for (const stage of STAGES) {
    if (stage.check && stage.section)
      (stage.check as (o: unknown, e: typeof env) => void)(config[stage.section.key], env);
  }
  checkClusterOptions(config.cluster, env.redis);
  checkRedisKeyPrefix(config.redis);
  if (config.hedge !== false && config.retry === false) {
    throw new ConfigError(
      'hedge',
      config.hedge,
      'retry enabled too: hedges follow its methods and are charged to its budget',
    );
  }
}

/** Refuses a `configure()` patch whose sections conflict with the rest of the configuration. */
export function checkPatch(resolved: { retry?: unknown }, config: ResolvedOptions): void {
  if (resolved.retry === false && config.hedge !== false) {
    throw new ConfigError('retry', false, 'retry options while hedge is on (hedges are retries)');
  }
}
