import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type {
  HealthGate,
  HealthGateOptions,
  healthGateSchema,
  ResolvedRolloutOptions,
  RolloutOptions,
  rolloutSchema,
} from '../src/control/rollout/options.js';
import type {
  AdaptiveConcurrencyOptions,
  CircuitBreakerOptions,
  ConnectionPoolOptions,
  HedgeOptions,
  LoadBalancerOptions,
  MetricsOptions,
  QueueOptions,
  RequestIdOptions,
  ResolvedAdaptiveConcurrencyOptions,
  ResolvedCircuitBreakerOptions,
  ResolvedConnectionPoolOptions,
  ResolvedHedgeOptions,
  ResolvedMetricsOptions,
  ResolvedQueueOptions,
  ResolvedRequestIdOptions,
  ResolvedRetryOptions,
  ResolvedTimeoutsOptions,
  ResolvedTracingOptions,
  RetryBudgetOptions,
  RetryOptions,
  TimeoutsOptions,
  TracingOptions,
} from '../src/index.js';
import type { ConfigurePatch, optionsSchema, runtimeSections } from '../src/options/options.js';
import type { CacheOptions, cacheSchema, ResolvedCacheOptions } from '../src/stages/cache/options.js';
import type { circuitBreakerSchema } from '../src/stages/circuit-breaker/options.js';
import type { RateLimitOptions, ResolvedRateLimitOptions, rateLimitSchema } from '../src/stages/rate-limit/options.js';
import type { budgetSchema, hedgeSchema, retrySchema } from '../src/stages/retry/options.js';
import type { ResolvedStickyOptions, StickyOptions, stickySchema } from '../src/stages/sticky-session/options.js';
import type {
  DashboardOptions,
  dashboardOptionsSchema,
  ResolvedDashboardOptions,
} from '../src/surfaces/admin/dashboard.js';
import type { AdminOptions, adminOptionsSchema } from '../src/surfaces/admin/handler.js';
import type {
  ResolvedServerHardeningOptions,
  ServerHardeningOptions,
  serverHardeningSchema,
} from '../src/surfaces/harden-server.js';
import type { metricsSchema } from '../src/surfaces/metrics/options.js';
import type { requestIdSchema, tracingSchema } from '../src/surfaces/observability/options.js';
import type { ResolvedRoute, RouteOptions, routeSchema } from '../src/surfaces/router/options.js';
import type { connectionPoolSchema, timeoutsSchema } from '../src/upstream/forwarder/options.js';
import type {
  HealthCheckOptions,
  healthCheckSchema,
  OutlierDetectionOptions,
  outlierDetectionSchema,
  ResolvedHealthCheckOptions,
  ResolvedOutlierDetectionOptions,
} from '../src/upstream/health/options.js';
import type { adaptiveConcurrencySchema, queueSchema } from '../src/upstream/overload/options.js';
import type {
  BackendOptions,
  BackendUpdate,
  backendOptionsSchema,
  backendUpdateSchema,
  UpstreamTlsOptions,
  upstreamTlsSchema,
} from '../src/upstream/pool/options.js';
import type {
  ResolvedSlowStartOptions,
  SlowStartOptions,
  slowStartOptionSchema,
} from '../src/upstream/pool/slow-start.js';
import type { ConsistentHashOptions, consistentHashOptionsSchema } from '../src/upstream/strategies/consistent-hash.js';
import type {
  NamedStrategyOptions,
  namedStrategySchema,
  StrategyOption,
  strategyOptionSchema,
} from '../src/upstream/strategies/create-strategy.js';
import type { HashKeyOption, hashKeySchema } from '../src/upstream/strategies/hash-key.js';
import type {
  LeastResponseTimeOptions,
  leastResponseTimeOptionsSchema,
} from '../src/upstream/strategies/least-response-time.js';
import type { MaglevOptions, maglevOptionsSchema } from '../src/upstream/strategies/maglev.js';
import type { P2cOptions, p2cOptionsSchema } from '../src/upstream/strategies/p2c.js';

// The declared option interfaces (what TypeDoc shows) and the zod schemas (what validates) must agree.
// Checked by the compiler: `npm run typecheck` fails when one changes without the other.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function agree<T extends true>(value: T): T {
  return value;
}

describe('declared option types', () => {
  it('match what the schemas accept and produce', () => {
    const checks = [
      agree<Equal<RetryOptions, z.input<typeof retrySchema>>>(true),
      agree<Equal<RetryBudgetOptions, z.input<typeof budgetSchema>>>(true),
      agree<Equal<HedgeOptions | false, z.input<typeof hedgeSchema>>>(true),
      agree<Equal<CircuitBreakerOptions, z.input<typeof circuitBreakerSchema>>>(true),
      agree<Equal<ResolvedRetryOptions, z.output<typeof retrySchema>>>(true),
      agree<Equal<ResolvedHedgeOptions | false, z.output<typeof hedgeSchema>>>(true),
      agree<Equal<ResolvedCircuitBreakerOptions, z.output<typeof circuitBreakerSchema>>>(true),
      agree<Equal<QueueOptions | false, z.input<typeof queueSchema>>>(true),
      agree<Equal<ResolvedQueueOptions | false, z.output<typeof queueSchema>>>(true),
      agree<Equal<AdaptiveConcurrencyOptions | false, z.input<typeof adaptiveConcurrencySchema>>>(true),
      agree<Equal<ResolvedAdaptiveConcurrencyOptions | false, z.output<typeof adaptiveConcurrencySchema>>>(true),
      agree<Equal<TimeoutsOptions, z.input<typeof timeoutsSchema>>>(true),
      agree<Equal<ResolvedTimeoutsOptions, z.output<typeof timeoutsSchema>>>(true),
      agree<Equal<ConnectionPoolOptions, z.input<typeof connectionPoolSchema>>>(true),
      agree<Equal<ResolvedConnectionPoolOptions, z.output<typeof connectionPoolSchema>>>(true),
      agree<Equal<MetricsOptions, z.input<typeof metricsSchema>>>(true),
      agree<Equal<ResolvedMetricsOptions, z.output<typeof metricsSchema>>>(true),
      agree<Equal<RequestIdOptions | false | undefined, z.input<typeof requestIdSchema>>>(true),
      agree<Equal<ResolvedRequestIdOptions, z.output<typeof requestIdSchema>>>(true),
      agree<Equal<TracingOptions | false | undefined, z.input<typeof tracingSchema>>>(true),
      agree<Equal<ResolvedTracingOptions, z.output<typeof tracingSchema>>>(true),
    ];
    expect(checks.every(Boolean)).toBe(true);
  });
});

describe('LoadBalancerOptions', () => {
  it('is what optionsSchema accepts', () => {
    expect(agree<Equal<LoadBalancerOptions, z.input<typeof optionsSchema>>>(true)).toBe(true);
  });
});

describe('strategy option types', () => {
  it('match what the strategy schemas accept', () => {
    const checks = [
      agree<Equal<HashKeyOption, z.input<typeof hashKeySchema>>>(true),
      agree<Equal<Omit<P2cOptions, 'random'>, z.input<typeof p2cOptionsSchema>>>(true),
      agree<Equal<Omit<LeastResponseTimeOptions, 'random'>, z.input<typeof leastResponseTimeOptionsSchema>>>(true),
      agree<Equal<ConsistentHashOptions, z.input<typeof consistentHashOptionsSchema>>>(true),
      agree<Equal<MaglevOptions, z.input<typeof maglevOptionsSchema>>>(true),
      agree<Equal<NamedStrategyOptions, z.input<typeof namedStrategySchema>>>(true),
      agree<Equal<StrategyOption, z.input<typeof strategyOptionSchema>>>(true),
    ];
    expect(checks.every(Boolean)).toBe(true);
  });
});

describe('backend and health option types', () => {
  it('match what the schemas accept and produce', () => {
    const checks = [
      agree<Equal<HealthCheckOptions, z.input<typeof healthCheckSchema>>>(true),
      agree<Equal<ResolvedHealthCheckOptions, z.output<typeof healthCheckSchema>>>(true),
      agree<Equal<OutlierDetectionOptions, z.input<typeof outlierDetectionSchema>>>(true),
      agree<Equal<ResolvedOutlierDetectionOptions, z.output<typeof outlierDetectionSchema>>>(true),
      agree<Equal<UpstreamTlsOptions, z.input<typeof upstreamTlsSchema>>>(true),
      agree<Equal<BackendOptions, z.input<typeof backendOptionsSchema>>>(true),
      agree<Equal<BackendUpdate, z.input<typeof backendUpdateSchema>>>(true),
      agree<Equal<SlowStartOptions, z.input<typeof slowStartOptionSchema>>>(true),
      agree<Equal<ResolvedSlowStartOptions, Readonly<z.output<typeof slowStartOptionSchema>>>>(true),
    ];
    expect(checks.every(Boolean)).toBe(true);
  });
});

describe('stage option types', () => {
  it('match what the schemas accept and produce', () => {
    const checks = [
      agree<Equal<CacheOptions | false | undefined, z.input<typeof cacheSchema>>>(true),
      agree<Equal<ResolvedCacheOptions | false | undefined, z.output<typeof cacheSchema>>>(true),
      agree<Equal<StickyOptions | false | undefined, z.input<typeof stickySchema>>>(true),
      agree<Equal<ResolvedStickyOptions | false | undefined, z.output<typeof stickySchema>>>(true),
      agree<Equal<RateLimitOptions | false, z.input<typeof rateLimitSchema>>>(true),
      agree<Equal<ResolvedRateLimitOptions | false, z.output<typeof rateLimitSchema>>>(true),
      agree<Equal<RolloutOptions, z.input<typeof rolloutSchema>>>(true),
      agree<Equal<ResolvedRolloutOptions, z.output<typeof rolloutSchema>>>(true),
      agree<Equal<HealthGateOptions, z.input<typeof healthGateSchema>>>(true),
      agree<Equal<HealthGate, z.output<typeof healthGateSchema>>>(true),
    ];
    expect(checks.every(Boolean)).toBe(true);
  });
});

describe('surface option types', () => {
  it('match what the schemas accept and produce', () => {
    const checks = [
      agree<Equal<AdminOptions, z.input<typeof adminOptionsSchema>>>(true),
      agree<Equal<boolean | DashboardOptions, z.input<typeof dashboardOptionsSchema>>>(true),
      agree<Equal<boolean | ResolvedDashboardOptions, z.output<typeof dashboardOptionsSchema>>>(true),
      agree<Equal<RouteOptions, z.input<typeof routeSchema>>>(true),
      agree<Equal<ResolvedRoute, z.output<typeof routeSchema>>>(true),
      agree<Equal<ServerHardeningOptions, z.input<typeof serverHardeningSchema>>>(true),
      agree<Equal<ResolvedServerHardeningOptions, z.output<typeof serverHardeningSchema>>>(true),
    ];
    expect(checks.every(Boolean)).toBe(true);
  });
});

describe('ConfigurePatch', () => {
  it('has a field for each section configure() validates, as that section accepts it', () => {
    // `strategy` is validated by createStrategy at run time (the schema takes unknown): typed as the build-time option.
    type Accepted = { -readonly [K in keyof typeof runtimeSections]?: z.input<(typeof runtimeSections)[K]> };
    const checks = [
      agree<Equal<keyof ConfigurePatch, keyof typeof runtimeSections>>(true),
      agree<Equal<Omit<ConfigurePatch, 'strategy'>, Omit<Accepted, 'strategy'>>>(true),
      agree<Equal<ConfigurePatch['strategy'], StrategyOption | undefined>>(true),
    ];
    expect(checks.every(Boolean)).toBe(true);
  });
});
