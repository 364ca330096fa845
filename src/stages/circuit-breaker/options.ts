import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { duration, positiveInt } from '../../core/zod.js';
import { statusSet } from '../../upstream/health/status-set.js';

/** Per-backend circuit breakers (opossum). */
export const circuitBreakerSchema = z
  .strictObject({
    /**
     * The breaker opens when more than this percentage of the requests in the
     * rolling window failed. 0 (any failure) to below 100. @default 50
     */
    errorThresholdPercentage: z
      .number()
      .min(0)
      .lt(100, { error: 'a percentage from 0 to below 100 (the breaker opens when the failure share exceeds it)' })
      .default(50),
    /** Fewest requests in the rolling window before the breaker may open. >= 0. @default 20 */
    volumeThreshold: z.number().int().min(0).default(20),
    /** Length of the rolling window of counts. > 0. @default '10s' */
    rollingCountTimeout: duration()
      .refine((ms) => ms > 0, { error: 'a duration > 0' })
      .default(10_000),
    /** Buckets the window is cut into; `rollingCountTimeout` must divide evenly, into buckets of >= 10 ms. @default 10 */
    rollingCountBuckets: positiveInt().optional(),
    /** How long an open breaker stays open before it lets probes in (half-open). > 0. @default '30s' */
    resetTimeout: duration()
      .refine((ms) => ms > 0, { error: 'a duration > 0' })
      .default(30_000),
    /** Requests let in at once while half-open; the rest go to other backends. >= 1. @default 1 */
    halfOpenProbes: positiveInt().default(1),
    /** Successful probes that close a half-open breaker; one failed probe opens it again. >= 1. @default 1 */
    successThreshold: positiveInt().default(1),
    /**
     * With active health checks on, a check that starts after the breaker
     * opened and passes ends the `resetTimeout` wait: the breaker goes
     * half-open at once and its probes decide. A backend that was down for
     * a few seconds then does not sit out 30 s after it is back. @default true
     */
    halfOpenOnPassingCheck: z.boolean().default(true),
    /**
     * Response statuses counted as failures, as a status, a `[min, max]` range
     * or a list. Attempts without a valid answer (connect failure, reset,
     * timeout, malformed response) always count. @default [500, 599]
     */
    failureStatuses: statusSet().default([[500, 599]]),
  })
  .superRefine((value, ctx) => {
    const given = value.rollingCountBuckets;
    const bucket = value.rollingCountTimeout / (given ?? 10);
    if (Number.isInteger(bucket) && bucket >= 10) return;
    // Blame the option the user gave: the bucket count only when they set it.
    ctx.addIssue(
      given === undefined
        ? {
            code: 'custom',
            path: ['rollingCountTimeout'],
            message: 'a multiple of 100 ms (10 buckets of at least 10 ms), or give rollingCountBuckets too',
          }
        : {
            code: 'custom',
            path: ['rollingCountBuckets'],
            message: `a divisor of rollingCountTimeout (${value.rollingCountTimeout} ms) giving buckets of at least 10 ms`,
          },
    );
  })
  .transform((value) => ({ ...value, rollingCountBuckets: value.rollingCountBuckets ?? 10 }));

/** `circuitBreaker` as given: options, or `false` for none. */
export const circuitBreakerOption = z.union([z.literal(false), circuitBreakerSchema]);

/**
 * The `circuitBreaker` option, as you pass it (or `false`): a breaker per
 * backend. Every field is optional. `test/option-types.test.ts` keeps this
 * interface and `circuitBreakerSchema` in step.
 *
 * @example
 * ```ts
 * import { type CircuitBreakerOptions } from 'switchyard-lb';
 * const circuitBreaker: CircuitBreakerOptions = { errorThresholdPercentage: 25, resetTimeout: '10s' };
 * ```
 */
export interface CircuitBreakerOptions {
  /** The breaker opens when more than this percentage of the requests in the rolling window failed; 0 to below 100. @default 50 */
  errorThresholdPercentage?: number | undefined;
  /** Fewest requests in the rolling window before the breaker may open, >= 0. @default 20 */
  volumeThreshold?: number | undefined;
  /** Length of the rolling window of counts; milliseconds or a duration string, > 0. @default '10s' */
  rollingCountTimeout?: Duration | undefined;
  /** Buckets the window is cut into; `rollingCountTimeout` must divide evenly into buckets of >= 10 ms. @default 10 */
  rollingCountBuckets?: number | undefined;
  /** How long an open breaker stays open before it lets probes in (half-open); > 0. @default '30s' */
  resetTimeout?: Duration | undefined;
  /** Requests let in at once while half-open, >= 1. @default 1 */
  halfOpenProbes?: number | undefined;
  /** Successful probes that close a half-open breaker, >= 1. @default 1 */
  successThreshold?: number | undefined;
  /**
   * With active health checks on, a passing check that started after the
   * breaker opened turns it half-open at once instead of after `resetTimeout`. @default true
   */
  halfOpenOnPassingCheck?: boolean | undefined;
  /**
   * Response statuses counted as failures: a status, a `[min, max]` range or
   * a list of them. Attempts without a valid answer always count. @default [500, 599]
   */
  failureStatuses?: number | [number, number] | (number | [number, number])[] | undefined;
}

/**
 * {@link CircuitBreakerOptions} after validation and defaults.
 *
 * @useDeclaredType
 */
export type ResolvedCircuitBreakerOptions = z.output<typeof circuitBreakerSchema>;
