/**
 * switchyard: an embeddable HTTP load balancer for Node.js.
 *
 * @packageDocumentation
 */

export type { AdminHandler, AdminOptions, HealthSummary } from './admin/handler.js';
export {
  createLoadBalancer,
  type ExpressMiddleware,
  type KoaContextLike,
  type KoaMiddleware,
  type LoadBalancer,
  type RemoveOptions,
  type RemoveResult,
} from './balancer.js';
export type { CircuitBreakerOptions } from './breaker/options.js';
export type { CacheKeyFunction, CacheOptions } from './cache/options.js';
export type { CacheAdmin, CacheStats } from './cache/response-cache.js';
export type { RedisClient, RedisSettings } from './cluster/redis.js';
export { optionsJsonSchema } from './config/json-schema.js';
export {
  type BackendOptions,
  type BackendUpdate,
  type ConfigurePatch,
  IDEMPOTENT_METHODS,
  type LoadBalancerOptions,
  optionsSchema,
  type ResolvedOptions,
  type TrustProxy,
} from './config/options.js';
export { type Duration, type DurationUnit, parseDuration } from './duration.js';
export { ConfigError, ERROR_STATUS, type ErrorCode, SwitchyardError } from './errors.js';
export type { EventName, Listener, RetryReason, SwitchyardEvents } from './events.js';
export { classifyFailure, type Fault, isIdleRace } from './forward/fault.js';
export { UpstreamError } from './forward/forwarder.js';
export type { HealthCheckOptions, OutlierDetectionOptions } from './health/options.js';
export { type FailureDetector, PhiAccrualDetector, type PhiAccrualOptions } from './health/phi-accrual.js';
export type { MetricsHandler } from './metrics/handler.js';
export type { BackendStats, BalancerStats, BreakerState, LatencySummary } from './metrics/stats.js';
export type { Logger, LogLevel, RequestLogLine } from './observability/logger.js';
export { parseTraceparent, type TraceParent } from './observability/traceparent.js';
export { Gradient2Limiter, type Gradient2Options } from './overload/gradient2.js';
export type { ConcurrencyLimiter } from './overload/limiter.js';
export { VegasLimiter, type VegasOptions } from './overload/vegas.js';
export type { Middleware, NamedMiddleware, Next, StageName } from './pipeline/compose.js';
export { compose } from './pipeline/compose.js';
export { Context, type PendingResponse, type SwitchyardState } from './pipeline/context.js';
export type { Backend, BackendSnapshot, BackendStatus } from './pool/backend.js';
export { FixedWindow, type FixedWindowOptions } from './rate-limit/fixed-window.js';
export type { RateLimitKey, RateLimitKeyFunction } from './rate-limit/keys.js';
export type { Algorithm, LimitDecision, Limiter, LimiterSettings, RedisErrorPolicy } from './rate-limit/limiter.js';
export type { RateLimitOptions } from './rate-limit/options.js';
export { MemorySlidingWindow, RedisSlidingWindow } from './rate-limit/sliding-window.js';
export type { RedisStoreOptions } from './rate-limit/store-fallback.js';
export { MemoryTokenBucket, RedisTokenBucket } from './rate-limit/token-bucket.js';
export { RetryBudget } from './retry/budget.js';
export type { Backoff, HedgeOptions, RetryOptions } from './retry/options.js';
export { parseRetryAfter } from './retry/retry-after.js';
export type { RolloutOptions } from './rollout/options.js';
export type {
  RollbackResult,
  RolloutOutcome,
  RolloutPhase,
  RolloutResult,
  RolloutStatus,
  RolloutStep,
} from './rollout/rollout.js';
export { hardenServer, type ServerHardeningOptions, serverOptions } from './security/harden-server.js';
export type { StickyOptions } from './sticky/options.js';
export type { Candidate, Sample, SelectionContext, Strategy } from './strategies/strategy.js';
