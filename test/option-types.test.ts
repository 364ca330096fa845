import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type {
  CircuitBreakerOptions,
  HedgeOptions,
  LoadBalancerOptions,
  ResolvedCircuitBreakerOptions,
  ResolvedHedgeOptions,
  ResolvedRetryOptions,
  RetryBudgetOptions,
  RetryOptions,
} from '../src/index.js';
import type { optionsSchema } from '../src/options/options.js';
import type { circuitBreakerSchema } from '../src/stages/circuit-breaker/options.js';
import type { budgetSchema, hedgeSchema, retrySchema } from '../src/stages/retry/options.js';

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
    ];
    expect(checks.every(Boolean)).toBe(true);
  });
});

describe('LoadBalancerOptions', () => {
  it('is what optionsSchema accepts', () => {
    expect(agree<Equal<LoadBalancerOptions, z.input<typeof optionsSchema>>>(true)).toBe(true);
  });
});
