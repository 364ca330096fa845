/**
 * switchyard: an embeddable HTTP load balancer for Node.js.
 *
 * @packageDocumentation
 */

export {
  createLoadBalancer,
  type ExpressMiddleware,
  type ExpressOptions,
  type KoaContextLike,
  type KoaMiddleware,
  type LoadBalancer,
  type RemoveOptions,
  type RemoveResult,
  type UpgradeAtOptions,
} from './balancer.js';
export type { ClusterOptions } from './control/cluster/options.js';
export type { ControlPlane, RolloutControl } from './control/control-plane.js';
export type { HealthGateOptions, RolloutOptions } from './control/rollout/options.js';
export type {
  RollbackResult,
  RolloutOutcome,
  RolloutPhase,
  RolloutResult,
  RolloutStatus,
  RolloutStep,
} from './control/rollout/rollout.js';
export type { Backend, BackendSnapshot, BackendStatus, ConcurrencyLimit } from './core/backend.js';
export type { Middleware, NamedMiddleware, Next } from './core/compose.js';
export { compose } from './core/compose.js';
export { Context, type PendingResponse, type SwitchyardState } from './core/context.js';
export { type Duration, type DurationUnit, parseDuration } from './core/duration.js';
export { ConfigError, ERROR_STATUS, type ErrorCode, SwitchyardError } from './core/errors.js';
export type { EventName, Listener, RetryReason, SubscribeOptions, SwitchyardEvents } from './core/events.js';
export { type BodyOutcome, classifyFailure, type Fault, isIdleRace } from './core/fault.js';
export type { LazyBody } from './core/lazy-body.js';
export type { TrustProxy } from './core/net/trust-proxy-options.js';
export type { RedisClient, RedisSettings } from './core/redis.js';
export type { Stage, StageEnv, StageHandle, StageOptions, StageSection } from './core/stage.js';
export type { Candidate, Sample, SelectionContext, Strategy } from './core/strategy.js';
export { UpstreamError } from './core/upstream-error.js';
export { optionsJsonSchema } from './options/json-schema.js';
export {
  type ConfigurePatch,
  IDEMPOTENT_METHODS,
  type LoadBalancerOptions,
  optionsSchema,
  type ResolvedOptions,
} from './options/options.js';
export {
  createRouter,
  type PoolInput,
  type RoutedRequest,
  type RouteInfo,
  type Router,
  type RouterEventName,
  type RouterEvents,
  type RouterListener,
  type RouterMatch,
  type RouterOptions,
  type RouterStats,
} from './router.js';
export type { CacheKeyFunction, CacheOptions } from './stages/cache/options.js';
export type { CacheAdmin, CacheStats } from './stages/cache/response-cache.js';
export type { CircuitBreakerOptions, ResolvedCircuitBreakerOptions } from './stages/circuit-breaker/options.js';
export type { StageName } from './stages/index.js';
export { FixedWindow, type FixedWindowOptions } from './stages/rate-limit/fixed-window.js';
export type { RateLimitKey, RateLimitKeyFunction } from './stages/rate-limit/keys.js';
export type {
  Algorithm,
  Clock,
  LimitDecision,
  Limiter,
  LimiterSettings,
  RedisErrorPolicy,
} from './stages/rate-limit/limiter.js';
export type {
  CustomRateLimitOptions,
  RateLimitKeyOption,
  RateLimitLimitOptions,
  RateLimitOptions,
  ResolvedKey,
  ResolvedLimit,
  ResolvedRateLimitOptions,
} from './stages/rate-limit/options.js';
export { MemorySlidingWindow, RedisSlidingWindow } from './stages/rate-limit/sliding-window.js';
export type { RedisStoreOptions } from './stages/rate-limit/store-fallback.js';
export { MemoryTokenBucket, RedisTokenBucket } from './stages/rate-limit/token-bucket.js';
export { RetryBudget } from './stages/retry/budget.js';
export type {
  Backoff,
  HedgeOptions,
  ResolvedHedgeOptions,
  ResolvedRetryBudgetOptions,
  ResolvedRetryOptions,
  RetryBudgetOptions,
  RetryOptions,
} from './stages/retry/options.js';
export { parseRetryAfter } from './stages/retry/retry-after.js';
export type { StickyOptions } from './stages/sticky-session/options.js';
export type { DashboardOptions, ResolvedDashboardOptions } from './surfaces/admin/dashboard.js';
export type { AdminHandler, AdminOptions, HealthSummary } from './surfaces/admin/handler.js';
export type { BackendLiveFigures, LiveEvent, LiveFigures, LiveStatsBody } from './surfaces/admin/live-stats.js';
export type { ErrorHandler } from './surfaces/error-response.js';
export { hardenServer, type ServerHardeningOptions, serverOptions } from './surfaces/harden-server.js';
export type { MetricsHandler } from './surfaces/metrics/handler.js';
export type { MetricsOptions, ResolvedMetricsOptions } from './surfaces/metrics/options.js';
export type {
  BackendStats,
  BalancerStats,
  BreakerState,
  LatencySummary,
  StatusClassCounts,
} from './surfaces/metrics/stats.js';
export type { Logger, LogLevel, RequestLogLine } from './surfaces/observability/logger.js';
export type {
  RequestIdOptions,
  ResolvedRequestIdOptions,
  ResolvedTracingOptions,
  TracingOptions,
} from './surfaces/observability/options.js';
export { parseTraceparent, type TraceParent } from './surfaces/observability/traceparent.js';
export type { RewriteFunction, RewriteOption } from './surfaces/rewrite.js';
export type { RouterAdminOptions } from './surfaces/router/admin.js';
export {
  type CompiledRoute,
  type HeaderTest,
  type RouteMatch,
  RouteTable,
  requestHost,
} from './surfaces/router/match.js';
export {
  type ResolvedRoute,
  type RouteHeaderCondition,
  type RouteOptions,
  routeSchema,
  routesSchema,
} from './surfaces/router/options.js';
export { rewriteTarget } from './surfaces/router/path.js';
export type {
  ConnectionPoolOptions,
  ResolvedConnectionPoolOptions,
  ResolvedTimeoutsOptions,
  TimeoutsOptions,
} from './upstream/forwarder/options.js';
export type {
  HealthCheckOptions,
  OutlierDetectionOptions,
  PhiAccrualCheckOptions,
  ResolvedHealthCheckOptions,
  ResolvedOutlierDetectionOptions,
  ResolvedPhiAccrualCheckOptions,
} from './upstream/health/options.js';
export { type FailureDetector, PhiAccrualDetector, type PhiAccrualOptions } from './upstream/health/phi-accrual.js';
export type { StatusRanges } from './upstream/health/status-set.js';
export { Gradient2Limiter, type Gradient2Options } from './upstream/overload/gradient2.js';
export type { ConcurrencyLimiter } from './upstream/overload/limiter.js';
export type {
  AdaptiveConcurrencyOptions,
  QueueOptions,
  ResolvedAdaptiveConcurrencyOptions,
  ResolvedQueueOptions,
} from './upstream/overload/options.js';
export { VegasLimiter, type VegasOptions } from './upstream/overload/vegas.js';
export type { BackendOptions, BackendUpdate, UpstreamTlsOptions } from './upstream/pool/options.js';
export type { ResolvedSlowStartOptions, SlowStartOptions } from './upstream/pool/slow-start.js';
export type { ConsistentHashOptions } from './upstream/strategies/consistent-hash.js';
export {
  type NamedConsistentHashOptions,
  type NamedLeastResponseTimeOptions,
  type NamedMaglevOptions,
  type NamedP2cOptions,
  type NamedStrategyOptions,
  STRATEGY_NAMES,
  type StrategyName,
  type StrategyOption,
} from './upstream/strategies/create-strategy.js';
export type {
  CookieHashKeyOptions,
  HashKeyFunction,
  HashKeyOption,
  HeaderHashKeyOptions,
} from './upstream/strategies/hash-key.js';
export type { LeastResponseTimeOptions } from './upstream/strategies/least-response-time.js';
export type { MaglevOptions } from './upstream/strategies/maglev.js';
export type { P2cOptions } from './upstream/strategies/p2c.js';
