import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import type { RetryReason } from '../../core/events.js';
import { duration, fn } from '../../core/zod.js';

/** Methods RFC 9110 §9.2.2 calls idempotent: safe to send twice. */
export const IDEMPOTENT_METHODS = ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'] as const;

/**
 * Failures (other than a status) a retry may follow.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * import { RETRY_ON } from './options.js';
 * createLoadBalancer({ backends, retry: { retryOn: RETRY_ON.filter((r) => r !== 'timeout') } });
 * ```
 */
export const RETRY_ON = ['connect-failure', 'reset', 'timeout'] as const satisfies readonly RetryReason[];

/**
 * Wait before retry `retry` (1 for the first retry), in milliseconds.
 * `random` is the balancer's random source in [0, 1).
 *
 * @example
 * ```ts
 * import { type Backoff, createLoadBalancer } from 'switchyard-lb';
 * // constant 100 ms, no jitter
 * const backoff: Backoff = () => 100;
 * createLoadBalancer({ backends, retry: { backoff } });
 * ```
 */
export type Backoff = (retry: number, random: () => number) => number;

/** The retry budget. */
export const budgetSchema = z
  .strictObject({
    /** Retries allowed as a percentage of requests over the last `ttl`, 0 to 100. @default 20 */
    percent: z.number().min(0).max(100).default(20),
    /** Retries always allowed per second, even with little traffic (a reserve of `minRetriesPerSecond · ttl`). @default 10 */
    minRetriesPerSecond: z.number().int().min(0).max(100_000).default(10),
    /** How long a request's deposit (and a retry's withdrawal) counts, 1 s to 60 s. @default '10s' */
    ttl: duration()
      .refine((ms) => ms >= 1000 && ms <= 60_000, { error: 'a duration from 1s to 60s' })
      .default(10_000),
  })
  .refine((b) => b.percent > 0 || b.minRetriesPerSecond > 0, {
    error: 'percent or minRetriesPerSecond above 0 (or budget: false to leave retries unbudgeted)',
    path: ['percent'],
  });

/** The `retry` option. */
export const retrySchema = z
  .strictObject({
    /** Total tries per request, the first included: 2 means one retry. 1 to 10. @default 2 */
    attempts: z.number().int().min(1).max(10).default(2),
    /** Methods that may be retried once sent. @default the idempotent methods of RFC 9110 §9.2.2 */
    methods: z
      .array(z.string().regex(/^[A-Z]+$/, { error: 'an upper-case HTTP method' }))
      .default([...IDEMPOTENT_METHODS]),
    /**
     * Failures that are retried: `connect-failure` (refused, unreachable, connect
     * timeout), `reset` (connection closed before any response byte), `timeout`
     * (no response headers within `timeouts.response`). @default all three
     */
    retryOn: z.array(z.enum(RETRY_ON)).default([...RETRY_ON]),
    /** Response statuses that are retried (the response is discarded), 400 to 599. @default [502, 503, 504] */
    statuses: z.array(z.number().int().min(400).max(599)).default([502, 503, 504]),
    /**
     * gRPC statuses (0 to 16) of a trailers-only answer that are retried,
     * whatever the method, as gRPC's own `retryableStatusCodes`: the backend
     * failed the call before sending any message, and nothing reached the
     * client yet. @default [14] (`UNAVAILABLE`)
     */
    grpcStatuses: z.array(z.number().int().min(0).max(16)).default([14]),
    /** Full-jitter backoff: the wait before retry n is random in [0, min(backoffMax, backoffBase·2^(n-1))). @default '25ms' */
    backoffBase: duration().default(25),
    /** Largest backoff. @default '250ms' */
    backoffMax: duration().default(250),
    /** Your own backoff `(retry, random) => ms`, replacing the full-jitter one. */
    backoff: fn<Backoff>().optional(),
    /**
     * Longest `Retry-After` (on a 503 or 429 that is retried) the balancer
     * waits before the retry; a longer one makes that response final. @default '1s'
     */
    retryAfterMax: duration().default(1000),
    /**
     * Read a request body of a retryable method into memory (up to
     * `maxBufferBytes`) before the first attempt, so a retry can send it again.
     * A larger body streams and is not retried. @default true
     */
    bufferBody: z.boolean().default(true),
    /** Largest request body buffered for replay, in bytes (0 to 64 MiB). @default 65536 */
    maxBufferBytes: z
      .number()
      .int()
      .min(0)
      .max(64 * 1024 * 1024)
      .default(64 * 1024),
    /**
     * Retry budget (Finagle/Linkerd token bucket): over any `ttl` window,
     * retries (and hedges) stay under `percent`% of requests plus a reserve of
     * `minRetriesPerSecond`, so retries cannot multiply an outage. `false`
     * leaves retries unbudgeted. @default { percent: 20, minRetriesPerSecond: 10, ttl: '10s' }
     */
    budget: z.union([z.literal(false), budgetSchema]).default(() => budgetSchema.parse({})),
  })
  .refine((r) => r.backoffBase <= r.backoffMax, {
    error: 'a duration not above backoffMax',
    path: ['backoffBase'],
  });

/** The `hedge` option: speculative attempts for slow idempotent requests. */
export const hedgeSchema = z.union([
  z.literal(false),
  z.strictObject({
    /** Wait for response headers this long before sending another attempt to another backend. */
    delay: duration(),
    /** Most hedged attempts per request, 1 to 5 (on top of the retries of `retry.attempts`). @default 1 */
    maxHedges: z.number().int().min(1).max(5).default(1),
  }),
]);

/**
 * The `retry` option, as you pass it: retries of failed idempotent requests
 * on another backend. Every field is optional. `test/option-types.test.ts`
 * keeps this interface and `retrySchema` in step.
 *
 * @example
 * ```ts
 * import { type RetryOptions } from 'switchyard-lb';
 * const retry: RetryOptions = { attempts: 3, statuses: [503], budget: { percent: 10 } };
 * ```
 */
export interface RetryOptions {
  /** Total tries per request, the first included: 2 means one retry. 1 to 10. @default 2 */
  attempts?: number | undefined;
  /** Methods that may be retried once sent, upper case. @default the idempotent methods of RFC 9110 §9.2.2 */
  methods?: string[] | undefined;
  /**
   * Failures that are retried: `connect-failure` (refused, unreachable, connect
   * timeout), `reset` (connection closed before any response byte), `timeout`
   * (no response headers within `timeouts.response`). @default all three
   */
  retryOn?: ('connect-failure' | 'reset' | 'timeout')[] | undefined;
  /** Response statuses that are retried (the response is discarded), 400 to 599. @default [502, 503, 504] */
  statuses?: number[] | undefined;
  /** gRPC statuses (0 to 16) of a trailers-only answer that are retried, whatever the method. @default [14] */
  grpcStatuses?: number[] | undefined;
  /** Full-jitter backoff base: the wait before retry n is random in [0, min(backoffMax, backoffBase·2^(n-1))). Milliseconds or a duration string. @default '25ms' */
  backoffBase?: Duration | undefined;
  /** Largest backoff; milliseconds or a duration string. @default '250ms' */
  backoffMax?: Duration | undefined;
  /** Your own backoff `(retry, random) => ms`, replacing the full-jitter one. @default full jitter */
  backoff?: Backoff | undefined;
  /** Longest `Retry-After` (on a retried 503 or 429) waited before the retry; a longer one makes that response final. @default '1s' */
  retryAfterMax?: Duration | undefined;
  /** Buffer a request body of a retryable method (up to `maxBufferBytes`) so a retry can send it again. @default true */
  bufferBody?: boolean | undefined;
  /** Largest request body buffered for replay, in bytes (0 to 64 MiB). @default 65536 */
  maxBufferBytes?: number | undefined;
  /**
   * Retry budget: over any `ttl` window, retries (and hedges) stay under
   * `percent`% of requests plus a reserve; `false` leaves retries unbudgeted.
   * @default { percent: 20, minRetriesPerSecond: 10, ttl: '10s' }
   */
  budget?: false | RetryBudgetOptions | undefined;
}

/** The retry budget (Finagle/Linkerd token bucket), as you pass it. */
export interface RetryBudgetOptions {
  /** Retries allowed as a percentage of requests over the last `ttl`, 0 to 100. @default 20 */
  percent?: number | undefined;
  /** Retries always allowed per second, even with little traffic. @default 10 */
  minRetriesPerSecond?: number | undefined;
  /** How long a request's deposit (and a retry's withdrawal) counts, 1 s to 60 s. @default '10s' */
  ttl?: Duration | undefined;
}

/** The `hedge` option, as you pass it (or `false`, the default): speculative attempts for slow idempotent requests. */
export interface HedgeOptions {
  /** Wait for response headers this long (milliseconds or a duration string) before another attempt on another backend. Required. */
  delay: Duration;
  /** Most hedged attempts per request, 1 to 5 (on top of `retry.attempts`). @default 1 */
  maxHedges?: number | undefined;
}

/**
 * {@link RetryOptions} after validation and defaults.
 *
 * @useDeclaredType
 */
export type ResolvedRetryOptions = z.output<typeof retrySchema>;
/**
 * {@link RetryBudgetOptions} after validation and defaults.
 *
 * @useDeclaredType
 */
export type ResolvedRetryBudgetOptions = z.output<typeof budgetSchema>;
/**
 * {@link HedgeOptions} after validation and defaults.
 *
 * @useDeclaredType
 */
export type ResolvedHedgeOptions = Exclude<z.output<typeof hedgeSchema>, false>;
