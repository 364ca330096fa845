/**
 * switchyard: an embeddable HTTP load balancer for Node.js.
 *
 * @packageDocumentation
 */
export {
  createLoadBalancer,
  type ExpressMiddleware,
  type KoaContextLike,
  type KoaMiddleware,
  type LoadBalancer,
  type RemoveOptions,
  type RemoveResult,
} from './balancer.js';
export {
  type BackendOptions,
  type BackendUpdate,
  IDEMPOTENT_METHODS,
  type LoadBalancerOptions,
  optionsSchema,
  type ResolvedOptions,
  type TrustProxy,
} from './config/options.js';
export { type Duration, type DurationUnit, parseDuration } from './duration.js';
export { ConfigError, ERROR_STATUS, type ErrorCode, SwitchyardError } from './errors.js';
export type { EventName, Listener, RetryReason, SwitchyardEvents } from './events.js';
export { UpstreamError } from './forward/forwarder.js';
export type { MetricsHandler } from './metrics/handler.js';
export type { BackendStats, BalancerStats, BreakerState, LatencySummary } from './metrics/stats.js';
export type { Logger, LogLevel, RequestLogLine } from './observability/logger.js';
export { parseTraceparent, type TraceParent } from './observability/traceparent.js';
export type { Middleware, NamedMiddleware, Next, StageName } from './pipeline/compose.js';
export { compose } from './pipeline/compose.js';
export { Context, type PendingResponse, type SwitchyardState } from './pipeline/context.js';
export type { BackendSnapshot, BackendStatus } from './pool/backend.js';
export type { Candidate, Sample, SelectionContext, Strategy } from './strategies/strategy.js';
