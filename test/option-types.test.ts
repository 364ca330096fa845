import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
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
import type { optionsSchema } from '../src/options/options.js';
import type { circuitBreakerSchema } from '../src/stages/circuit-breaker/options.js';
import type { budgetSchema, hedgeSchema, retrySchema } from '../src/stages/retry/options.js';
import type { metricsSchema } from '../src/surfaces/metrics/options.js';
import type { requestIdSchema, tracingSchema } from '../src/surfaces/observability/options.js';
import type { connectionPoolSchema, timeoutsSchema } from '../src/upstream/forwarder/options.js';
import type { adaptiveConcurrencySchema, queueSchema } from '../src/upstream/overload/options.js';

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
