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
export type { CircuitBreakerOptions } from './breaker/options.js';
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
export { UpstreamError } from './forward/forwarder.js';
export type { HealthCheckOptions, OutlierDetectionOptions } from './health/options.js';
export { type FailureDetector, PhiAccrualDetector, type PhiAccrualOptions } from './health/phi-accrual.js';
export type { Middleware, NamedMiddleware, Next, StageName } from './pipeline/compose.js';
export { compose } from './pipeline/compose.js';
export { Context, type PendingResponse, type SwitchyardState } from './pipeline/context.js';
export type { BackendSnapshot, BackendStatus } from './pool/backend.js';
export type { Candidate, Sample, SelectionContext, Strategy } from './strategies/strategy.js';
