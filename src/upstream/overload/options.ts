import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { duration, fn, positiveInt } from '../../core/zod.js';
import type { ConcurrencyLimiter } from './limiter.js';

const queueObject = z.strictObject({
  /** Most requests waiting at once; one more gets 503 `ERR_QUEUE_FULL`. 0 refuses at once. @default 1000 */
  maxSize: z.number().int().min(0).max(1_000_000).default(1000),
  /** Longest wait for a slot; then 503 `ERR_QUEUE_TIMEOUT` (HAProxy `timeout queue`). @default '5s' */
  timeout: duration().default(5000),
});

/**
 * The `queue` option (HAProxy `maxconn` + queue + `timeout queue`): when
 * every eligible backend is at its limit, a request waits here, first in
 * first out, until one of them frees a slot. `false` answers 503 at once.
 */
export const queueSchema = z.union([z.literal(false), queueObject]);

const adaptiveObject = z
  .strictObject({
    /**
     * `'gradient2'` (Netflix Gradient2: long-term vs current RTT), `'vegas'`
     * (TCP Vegas: queue estimate from the no-load RTT), or a factory
     * `(backendId) => ConcurrencyLimiter` for your own. @default 'gradient2'
     */
    algorithm: z
      .union([z.enum(['gradient2', 'vegas']), fn<(backend: string) => ConcurrencyLimiter>()], {
        error: "'gradient2', 'vegas' or a function (backendId) => ConcurrencyLimiter",
      })
      .default('gradient2'),
    /** Limit each backend starts with. @default 20 */
    initialLimit: positiveInt().max(100_000).default(20),
    /** The limit never goes below this. @default 1 */
    minLimit: positiveInt().max(100_000).default(1),
    /** The limit never goes above this. @default 200 */
    maxLimit: positiveInt().max(100_000).default(200),
    /** How much of each new estimate is taken, in (0, 1]. @default 0.2 for gradient2, 1 for vegas */
    smoothing: z.number().gt(0).max(1).optional(),
    /** gradient2: current RTT may exceed the long-term RTT by this factor before the limit shrinks. @default 1.5 */
    tolerance: z.number().min(1).max(10).default(1.5),
    /** gradient2: how much the limit may grow per sample while latency stays low. @default 4 */
    queueSize: z.number().min(0).max(1000).default(4),
    /** gradient2: samples in the long-term RTT average. @default 600 */
    longWindow: positiveInt().max(100_000).default(600),
    /** vegas: probe for a new no-load RTT every `probeMultiplier · limit` samples (jittered). @default 30 */
    probeMultiplier: positiveInt().max(10_000).default(30),
  })
  .refine((o) => o.minLimit <= o.maxLimit, { error: 'a number not above maxLimit', path: ['minLimit'] })
  .refine((o) => o.initialLimit >= o.minLimit && o.initialLimit <= o.maxLimit, {
    error: 'a number from minLimit to maxLimit',
    path: ['initialLimit'],
  });

/**
 * The `adaptiveConcurrency` option: a per-backend concurrency limit learnt
 * from latency. A backend at its limit is not eligible (requests go to
 * another backend, or wait in the queue).
 */
export const adaptiveConcurrencySchema = z.union([z.literal(false), adaptiveObject]);

/**
 * The `queue` option, as you pass it (or `false`: 503 at once): requests wait
 * here, first in first out, while every eligible backend is at its limit.
 * `test/option-types.test.ts` keeps this interface and `queueSchema` in step.
 *
 * @example
 * ```ts
 * import { type QueueOptions } from 'switchyard-lb';
 * const queue: QueueOptions = { maxSize: 200, timeout: '2s' };
 * ```
 */
export interface QueueOptions {
  /** Most requests waiting at once (0 to 1 000 000); one more gets 503 `ERR_QUEUE_FULL`. 0 refuses at once. @default 1000 */
  maxSize?: number | undefined;
  /** Longest wait for a slot, milliseconds or a duration string; then 503 `ERR_QUEUE_TIMEOUT`. @default '5s' */
  timeout?: Duration | undefined;
}

/** {@link QueueOptions} after validation and defaults (`timeout` in milliseconds). */
export interface ResolvedQueueOptions {
  /** Most requests waiting at once. @default 1000 */
  maxSize: number;
  /** Longest wait for a slot, in milliseconds. @default 5000 */
  timeout: number;
}

/**
 * The `adaptiveConcurrency` option, as you pass it (or `false`): a
 * per-backend concurrency limit learnt from latency. `test/option-types.test.ts`
 * keeps this interface and `adaptiveConcurrencySchema` in step.
 *
 * @example
 * ```ts
 * import { type AdaptiveConcurrencyOptions } from 'switchyard-lb';
 * const adaptiveConcurrency: AdaptiveConcurrencyOptions = { algorithm: 'vegas', initialLimit: 10, maxLimit: 100 };
 * ```
 */
export interface AdaptiveConcurrencyOptions {
  /**
   * `'gradient2'` (Netflix Gradient2), `'vegas'` (TCP Vegas), or a factory
   * `(backendId) => ConcurrencyLimiter` for your own. @default 'gradient2'
   */
  algorithm?: 'gradient2' | 'vegas' | ((backend: string) => ConcurrencyLimiter) | undefined;
  /** Limit each backend starts with, 1 to 100 000, from `minLimit` to `maxLimit`. @default 20 */
  initialLimit?: number | undefined;
  /** The limit never goes below this, 1 to 100 000. @default 1 */
  minLimit?: number | undefined;
  /** The limit never goes above this, 1 to 100 000. @default 200 */
  maxLimit?: number | undefined;
  /** How much of each new estimate is taken, in (0, 1]. @default 0.2 for gradient2, 1 for vegas */
  smoothing?: number | undefined;
  /** gradient2: current RTT may exceed the long-term RTT by this factor (1 to 10) before the limit shrinks. @default 1.5 */
  tolerance?: number | undefined;
  /** gradient2: how much the limit may grow per sample while latency stays low (0 to 1000). @default 4 */
  queueSize?: number | undefined;
  /** gradient2: samples in the long-term RTT average. @default 600 */
  longWindow?: number | undefined;
  /** vegas: probe for a new no-load RTT every `probeMultiplier · limit` samples (jittered). @default 30 */
  probeMultiplier?: number | undefined;
}

/** {@link AdaptiveConcurrencyOptions} after validation and defaults. */
export interface ResolvedAdaptiveConcurrencyOptions {
  /** The algorithm, or your factory. @default 'gradient2' */
  algorithm: 'gradient2' | 'vegas' | ((backend: string) => ConcurrencyLimiter);
  /** Limit each backend starts with. @default 20 */
  initialLimit: number;
  /** Lowest limit. @default 1 */
  minLimit: number;
  /** Highest limit. @default 200 */
  maxLimit: number;
  /** Share of each new estimate taken; undefined: 0.2 for gradient2, 1 for vegas. */
  smoothing?: number | undefined;
  /** gradient2 latency tolerance factor. @default 1.5 */
  tolerance: number;
  /** gradient2 growth per sample. @default 4 */
  queueSize: number;
  /** gradient2 long-term average, in samples. @default 600 */
  longWindow: number;
  /** vegas probe interval, in multiples of the limit. @default 30 */
  probeMultiplier: number;
}
