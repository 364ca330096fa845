import type { ClusterOptions } from '../control/cluster/options.js';
import type { Duration } from '../core/duration.js';
import type { TrustProxy } from '../core/net/trust-proxy-options.js';
import type { RedisClient } from '../core/redis.js';
import type { CacheOptions } from '../stages/cache/options.js';
import type { CircuitBreakerOptions } from '../stages/circuit-breaker/options.js';
import type { MiddlewareEntry } from '../stages/pipeline.js';
import type { RateLimitOptions } from '../stages/rate-limit/options.js';
import type { HedgeOptions, RetryOptions } from '../stages/retry/options.js';
import type { StickyOptions } from '../stages/sticky-session/options.js';
import type { ErrorHandler } from '../surfaces/error-response.js';
import type { MetricsOptions } from '../surfaces/metrics/options.js';
import type { Logger, LogLevel } from '../surfaces/observability/logger.js';
import type { RequestIdOptions, TracingOptions } from '../surfaces/observability/options.js';
import type { RewriteOption } from '../surfaces/rewrite.js';
import type { ConnectionPoolOptions, TimeoutsOptions } from '../upstream/forwarder/options.js';
import type { HealthCheckOptions, OutlierDetectionOptions } from '../upstream/health/options.js';
import type { AdaptiveConcurrencyOptions, QueueOptions } from '../upstream/overload/options.js';
import type { BackendOptions } from '../upstream/pool/options.js';
import type { SlowStartOptions } from '../upstream/pool/slow-start.js';
import type { StrategyOption } from '../upstream/strategies/create-strategy.js';

/**
 * Options of `createLoadBalancer`, as you pass them: every field optional.
 * Durations are milliseconds or strings such as `'250ms'`, `'5s'`, `'1m'`.
 * `test/option-types.test.ts` keeps this interface and `optionsSchema` in step.
 *
 * @example
 * ```ts
 * import { type LoadBalancerOptions } from 'switchyard-lb';
 * const options: LoadBalancerOptions = {
 *   backends: [{ url: 'http://10.0.0.1:8080' }],
 *   retry: { attempts: 3 },
 *   healthCheck: { path: '/health', interval: '5s' },
 * };
 * ```
 */
export interface LoadBalancerOptions {
  /** Upstream servers; more can be added later with `addBackend`. @default [] */
  backends?: BackendOptions[] | undefined;
  /** How a backend is chosen: a strategy name, `{ name, ...options }`, or an object implementing `Strategy`. @default 'p2c' */
  strategy?: StrategyOption | undefined;
  /** Ramp the weight of a backend that just joined or recovered (Envoy's formula), or `false`. @default false */
  slowStart?: false | SlowStartOptions | undefined;
  /** Rate limits, first stage of the pipeline: `{ points, duration, key?, algorithm? }` or `{ limits: [...] }`. @default off */
  rateLimit?: false | RateLimitOptions | undefined;
  /** Sticky sessions by signed cookie, header or client IP, or `false`. @default off */
  sticky?: false | StickyOptions | undefined;
  /** Response cache for GET and HEAD (RFC 9111 shared-cache rules), or `false`. @default off */
  cache?: false | CacheOptions | undefined;
  /** Retries of failed idempotent requests on another backend, or `false`. @default { attempts: 2 } */
  retry?: false | RetryOptions | undefined;
  /** A circuit breaker per backend (opossum), or `false`. @default on */
  circuitBreaker?: false | CircuitBreakerOptions | undefined;
  /** Hedging: after `delay` without response headers, race another attempt on another backend. Needs `retry`. @default false */
  hedge?: false | HedgeOptions | undefined;
  /** Wait queue for requests while every eligible backend is at its connection limit, or `false` (503 at once). @default on */
  queue?: false | QueueOptions | undefined;
  /** Adaptive per-backend concurrency limit (Netflix concurrency-limits), or `false`. @default false */
  adaptiveConcurrency?: false | AdaptiveConcurrencyOptions | undefined;
  /** Upstream timeouts: `connect` (5 s), `response` (60 s), `idle` (60 s), `total` (none). */
  timeouts?: TimeoutsOptions | undefined;
  /** Keep-alive pool per backend: `maxSockets` (256), `maxFreeSockets` (64), `idleTimeout` (4 s). */
  connectionPool?: ConnectionPoolOptions | undefined;
  /**
   * HTTP client for upstream requests: `'undici'` (a `Pool` per backend) or
   * `'http-proxy-3'` (a keep-alive `http.Agent` per backend). WebSocket
   * upgrades and chunked request bodies always use http-proxy-3. @default 'undici'
   */
  forwarder?: 'undici' | 'http-proxy-3' | undefined;
  /** Which peers may set `X-Forwarded-*`: `false` (none), `true` (all), a hop count, or IPs/CIDRs. @default false */
  trustProxy?: TrustProxy | undefined;
  /** Pseudonym added to `Via`, or `false` to add none. @default 'switchyard' */
  via?: string | false | undefined;
  /** Send the client's `Host` upstream (true) or the backend's host (false). @default true */
  preserveHost?: boolean | undefined;
  /** How long `removeBackend(id, { drain: true })` and `close()` wait for in-flight requests. @default '30s' */
  drainTimeout?: Duration | undefined;
  /** User middleware, each inserted before or after a named stage (default: before `forward`). @default [] */
  middleware?: MiddlewareEntry[] | undefined;
  /**
   * Path rewriting for every request and upgrade: `{ prefix, to }` replaces a
   * leading path (whole segments; `to: '/'` strips it), or
   * `(path, req) => string` returns the target the backend gets (a path
   * starting with `/`; anything else answers 500 `ERR_MIDDLEWARE`). Runs after
   * an Express mount path is stripped. @default none
   */
  rewrite?: RewriteOption | undefined;
  /**
   * Renders the responses the balancer makes itself (upstream failures,
   * refusals, bad requests) in your format; see `ErrorHandler`. Without it, or
   * when it sends nothing, the client gets `{ "error": { "code", "message" } }`. @default none
   */
  onError?: ErrorHandler | undefined;
  /** Shared state across instances: a `redis://` URL, an ioredis client, or `{ url | client, keyPrefix }`. @default none */
  redis?:
    | string
    | RedisClient
    | { url?: string | undefined; client?: RedisClient | undefined; keyPrefix?: string | undefined }
    | undefined;
  /** Shared backend membership across instances (`{ membership: true, channel? }`, needs `redis`), or `false`. @default false */
  cluster?: false | ClusterOptions | undefined;
  /** Active health checks per backend, or `false`. @default off */
  healthCheck?: false | HealthCheckOptions | undefined;
  /** Passive outlier detection from every upstream outcome, or `false`. @default on, with Envoy's numbers */
  outlierDetection?: false | OutlierDetectionOptions | undefined;
  /** Below this percentage of available backends, spread load over all of them (0 turns it off). @default 50 */
  panicThreshold?: number | undefined;
  /** Prometheus metrics and the `stats()` window: `{ registry?, prefix?, buckets?, defaultLabels?, token?, window? }`, or `false`. @default on */
  metrics?: false | MetricsOptions | undefined;
  /** Where to log (a pino-compatible logger). @default none: silent */
  logger?: Logger | undefined;
  /** Level of the per-request line of a request that went well. @default 'info' */
  logLevel?: LogLevel | undefined;
  /** Request ids: `{ header }` or `false`. @default { header: 'x-request-id' } */
  requestId?: false | RequestIdOptions | undefined;
  /** W3C `traceparent` propagation: `{ propagate }` or `false`. @default { propagate: true } */
  tracing?: false | TracingOptions | undefined;
  /** Monotonic clock in milliseconds, injectable for tests. @default performance.now */
  now?: (() => number) | undefined;
  /** Random source in [0, 1), injectable for tests. @default Math.random */
  random?: (() => number) | undefined;
}
