import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { FIELD_VALUE } from '../../core/net/field-value.js';
import { duration, fn, positiveInt } from '../../core/zod.js';
import type { FailureDetector } from './phi-accrual.js';
import { type StatusRanges, statusSet } from './status-set.js';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const phiAccrualSchema = z.strictObject({
  /** φ above which a backend is marked unhealthy (8: a 1e-8 chance the check is merely late). > 0. @default 8 */
  threshold: z.number().finite().positive().default(8),
  /** Floor of the standard deviation of check intervals. @default '100ms' */
  minStdDeviation: duration()
    .refine((ms) => ms > 0, { error: 'a duration > 0' })
    .default(100),
  /** Silence tolerated beyond the mean check interval. @default the check `interval` (one missed check) */
  acceptablePause: duration().optional(),
  /** Most intervals kept for the estimate. 1 to 100000. @default 1000 */
  maxSampleSize: z.number().int().min(1).max(100_000).default(1000),
});

/** A health check's timeout unless given (HAProxy's `timeout check` is commonly 2 s), ms. */
const DEFAULT_CHECK_TIMEOUT = 2000;

/** Active health checks, per backend. */
export const healthCheckSchema = z
  .strictObject({
    /** Path (and query) requested. @default '/health' */
    path: z
      .string()
      .regex(/^\/[\x21-\x7e]*$/, { error: 'a path starting with "/", without spaces or control characters' })
      .default('/health'),
    /** `GET` or `HEAD`. @default 'GET' */
    method: z.enum(['GET', 'HEAD']).default('GET'),
    /** Time between the end of one check and the start of the next, while the backend is healthy. > 0. @default '5s' */
    interval: duration()
      .refine((ms) => ms > 0, { error: 'a duration > 0' })
      .default(5000),
    /** Interval while the backend is unhealthy (HAProxy's `downinter`). > 0. @default `interval` */
    unhealthyInterval: duration()
      .refine((ms) => ms > 0, { error: 'a duration > 0' })
      .optional(),
    /**
     * A check with no complete response (headers and body) within this long fails. > 0, at most
     * `interval` and `unhealthyInterval`. @default the smaller of '2s' and the shortest interval
     */
    timeout: duration()
      .refine((ms) => ms > 0, { error: 'a duration > 0' })
      .optional(),
    /** Statuses that pass: a status, a `[min, max]` range, or a list of both. @default [200, 399] */
    expectedStatus: statusSet().default([[200, 399]]),
    /** Consecutive passing checks that bring an unhealthy backend back (HAProxy's `rise`). >= 1. @default 2 */
    healthyThreshold: positiveInt().default(2),
    /** Consecutive failing checks that take a healthy backend out (HAProxy's `fall`). >= 1. @default 3 */
    unhealthyThreshold: positiveInt().default(3),
    /**
     * Each wait is randomised by ± this fraction of the interval, and the first
     * check comes within this fraction of it (the n-th of backends started in
     * the same tick within n times it, up to the whole interval), so the
     * checks of different backends do not align (HAProxy's `spread-checks`).
     * 0 to 0.5. @default 0.1
     */
    jitter: z.number().min(0).max(0.5).default(0.1),
    /** Extra request headers. */
    headers: z
      .record(
        z.string().regex(TOKEN, { error: 'a header name (an HTTP token)' }),
        z.string().regex(FIELD_VALUE, { error: 'a header value without control characters' }),
      )
      .optional(),
    /** `Host` header sent. @default the backend URL's host */
    host: z
      .string()
      .regex(/^[\x21-\x7e]+$/, { error: 'a host without spaces or control characters' })
      .optional(),
    /**
     * Phi-accrual failure detection over the arrival times of passing checks:
     * a backend whose checks stop arriving is marked unhealthy as soon as φ
     * exceeds `threshold`, possibly before `unhealthyThreshold` failures. @default false
     */
    phiAccrual: z.union([z.literal(false), phiAccrualSchema]).default(false),
    /** Your own failure detector, one per backend (takes precedence over `phiAccrual`). */
    detector: fn<(backendId: string) => FailureDetector>().optional(),
  })
  .superRefine((value, ctx) => {
    // Only a timeout the user gave can be too long: the default fits any interval.
    const shortest = Math.min(value.interval, value.unhealthyInterval ?? value.interval);
    if (value.timeout !== undefined && value.timeout > shortest) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeout'],
        message: `a duration no longer than interval and unhealthyInterval (${shortest} ms)`,
      });
    }
  })
  .transform((value) => ({
    ...value,
    timeout:
      value.timeout ?? Math.min(DEFAULT_CHECK_TIMEOUT, value.interval, value.unhealthyInterval ?? value.interval),
  }));

/** `healthCheck` as given: options, or `false` for none. */
export const healthCheckOption = z.union([z.literal(false), healthCheckSchema]);

/**
 * Options of active health checks, as given.
 */
export interface HealthCheckOptions {
  /** Path (and query) requested, starting with `/`. @default '/health' */
  path?: string | undefined;
  /** `GET` or `HEAD`. @default 'GET' */
  method?: 'GET' | 'HEAD' | undefined;
  /** Time between the end of one check and the start of the next while the backend is healthy; milliseconds or a duration string, > 0. @default '5s' */
  interval?: Duration | undefined;
  /** Interval while the backend is unhealthy (HAProxy's `downinter`); milliseconds or a duration string, > 0. @default `interval` */
  unhealthyInterval?: Duration | undefined;
  /**
   * A check with no complete response (headers and body) within this long
   * fails; milliseconds or a duration string, > 0, at most `interval` and
   * `unhealthyInterval`. @default the smaller of '2s' and the shortest interval
   */
  timeout?: Duration | undefined;
  /** Statuses that pass: a status, a `[min, max]` range, or a list of both. @default [200, 399] */
  expectedStatus?: number | [number, number] | (number | [number, number])[] | undefined;
  /** Consecutive passing checks that bring an unhealthy backend back (HAProxy's `rise`), >= 1. @default 2 */
  healthyThreshold?: number | undefined;
  /** Consecutive failing checks that take a healthy backend out (HAProxy's `fall`), >= 1. @default 3 */
  unhealthyThreshold?: number | undefined;
  /**
   * Each wait is randomised by ± this fraction of the interval (HAProxy's
   * `spread-checks`); a backend's first check comes within this fraction of
   * it, the n-th of backends started together within n times it, up to the
   * whole interval. 0 to 0.5. @default 0.1
   */
  jitter?: number | undefined;
  /** Extra request headers, name to value. @default none */
  headers?: Record<string, string> | undefined;
  /** `Host` header sent. @default the backend URL's host */
  host?: string | undefined;
  /**
   * Phi-accrual failure detection over the arrival times of passing checks:
   * a backend whose checks stop arriving is marked unhealthy as soon as φ
   * exceeds `threshold`, possibly before `unhealthyThreshold` failures. @default false
   */
  phiAccrual?: false | PhiAccrualCheckOptions | undefined;
  /** Your own failure detector, one per backend (takes precedence over `phiAccrual`). @default none */
  detector?: ((backendId: string) => FailureDetector) | undefined;
}

/** `healthCheck.phiAccrual`, as you pass it. */
export interface PhiAccrualCheckOptions {
  /** φ above which a backend is marked unhealthy (8: a 1e-8 chance the check is merely late), > 0. @default 8 */
  threshold?: number | undefined;
  /** Floor of the standard deviation of check intervals; milliseconds or a duration string, > 0. @default '100ms' */
  minStdDeviation?: Duration | undefined;
  /** Silence tolerated beyond the mean check interval; milliseconds or a duration string. @default the check `interval` (one missed check) */
  acceptablePause?: Duration | undefined;
  /** Most intervals kept for the estimate, 1 to 100000. @default 1000 */
  maxSampleSize?: number | undefined;
}

/** {@link PhiAccrualCheckOptions} after validation and defaults (durations in milliseconds). */
export interface ResolvedPhiAccrualCheckOptions {
  /** φ threshold. @default 8 */
  threshold: number;
  /** Standard deviation floor, ms. @default 100 */
  minStdDeviation: number;
  /** Tolerated pause, ms; undefined: the check interval. */
  acceptablePause?: number | undefined;
  /** Most intervals kept. @default 1000 */
  maxSampleSize: number;
}

/** {@link HealthCheckOptions} after validation and defaults (durations in milliseconds, statuses as ranges). */
export interface ResolvedHealthCheckOptions {
  /** Path requested. @default '/health' */
  path: string;
  /** Method. @default 'GET' */
  method: 'GET' | 'HEAD';
  /** Interval while healthy, ms. @default 5000 */
  interval: number;
  /** Interval while unhealthy, ms; undefined: `interval`. */
  unhealthyInterval?: number | undefined;
  /** Check timeout, ms. @default the smaller of 2000 and the shortest interval */
  timeout: number;
  /** Passing statuses as inclusive ranges. @default [[200, 399]] */
  expectedStatus: StatusRanges;
  /** Passes that bring a backend back. @default 2 */
  healthyThreshold: number;
  /** Failures that take a backend out. @default 3 */
  unhealthyThreshold: number;
  /** Jitter fraction. @default 0.1 */
  jitter: number;
  /** Extra request headers. */
  headers?: Record<string, string> | undefined;
  /** `Host` header; undefined: the backend URL's host. */
  host?: string | undefined;
  /** Phi-accrual settings, or `false`. @default false */
  phiAccrual: false | ResolvedPhiAccrualCheckOptions;
  /** Your failure detector factory. */
  detector?: ((backendId: string) => FailureDetector) | undefined;
}

/** Passive outlier detection (Envoy's), fed from every upstream outcome. */
export const outlierDetectionSchema = z
  .strictObject({
    /**
     * Consecutive 5xx answers, or attempts with no answer at all, that eject a
     * backend; `false` turns this rule off. >= 1. @default 5
     */
    consecutive5xx: z.union([z.literal(false), positiveInt()]).default(5),
    /**
     * Consecutive attempts with no valid HTTP answer (connection refused or
     * timed out, reset, response timeout, malformed response) that eject a
     * backend; `false` turns this rule off. >= 1. @default 5
     */
    consecutiveConnectFailure: z.union([z.literal(false), positiveInt()]).default(5),
    /** An ejection lasts this × the number of times the backend was ejected. > 0. @default '30s' */
    baseEjectionTime: duration()
      .refine((ms) => ms > 0, { error: 'a duration > 0' })
      .default(30_000),
    /** Longest ejection. >= `baseEjectionTime`. @default the larger of '300s' and `baseEjectionTime` */
    maxEjectionTime: duration().optional(),
    /**
     * Most backends ejected at once, in percent of the pool (0 to 100); one
     * backend may always be ejected, as in Envoy. An ejected backend that
     * active health checks mark unhealthy too is out anyway and does not
     * count. @default 10
     */
    maxEjectionPercent: z.number().min(0).max(100).default(10),
    /**
     * With active health checks on, a check that starts after an ejection and
     * passes ends it at once (Envoy's `successful_active_health_check_uneject_host`):
     * a backend that was ejected while down is back as soon as it answers its
     * checks again. A backend that breaks bodies off fails its checks, so it
     * stays out. Set `false` when the check path does not exercise what fails
     * (a backend answering 5xx on real routes but 200 on `/health` would
     * otherwise be back after one check interval). @default true
     */
    unejectOnPassingCheck: z.boolean().default(true),
    /** The ejection count (the multiplier) drops by one for each interval a backend stays in service. > 0. @default '10s' */
    interval: duration()
      .refine((ms) => ms > 0, { error: 'a duration > 0' })
      .default(10_000),
  })
  .superRefine((value, ctx) => {
    if (value.maxEjectionTime !== undefined && value.maxEjectionTime < value.baseEjectionTime) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxEjectionTime'],
        message: `a duration no shorter than baseEjectionTime (${value.baseEjectionTime} ms)`,
      });
    }
  })
  .transform((value) => ({
    ...value,
    maxEjectionTime: value.maxEjectionTime ?? Math.max(300_000, value.baseEjectionTime),
  }));

/** `outlierDetection` as given: options, or `false` for none. */
export const outlierDetectionOption = z.union([z.literal(false), outlierDetectionSchema]);

/**
 * Options of outlier detection, as given.
 */
export interface OutlierDetectionOptions {
  /** Consecutive 5xx answers, or attempts with no answer at all, that eject a backend, >= 1; `false` turns this rule off. @default 5 */
  consecutive5xx?: false | number | undefined;
  /**
   * Consecutive attempts with no valid HTTP answer (connection refused or
   * timed out, reset, response timeout, malformed response) that eject a
   * backend, >= 1; `false` turns this rule off. @default 5
   */
  consecutiveConnectFailure?: false | number | undefined;
  /** An ejection lasts this × the number of times the backend was ejected; milliseconds or a duration string, > 0. @default '30s' */
  baseEjectionTime?: Duration | undefined;
  /** Longest ejection, >= `baseEjectionTime`; milliseconds or a duration string. @default the larger of '300s' and `baseEjectionTime` */
  maxEjectionTime?: Duration | undefined;
  /** Most backends ejected at once, in percent of the pool (0 to 100); one backend may always be ejected. @default 10 */
  maxEjectionPercent?: number | undefined;
  /**
   * With active health checks on, a check that starts after an ejection and
   * passes ends it at once; `false` when the check path does not exercise
   * what fails. @default true
   */
  unejectOnPassingCheck?: boolean | undefined;
  /** The ejection count drops by one for each interval a backend stays in service; milliseconds or a duration string, > 0. @default '10s' */
  interval?: Duration | undefined;
}

/** {@link OutlierDetectionOptions} after validation and defaults (durations in milliseconds). */
export interface ResolvedOutlierDetectionOptions {
  /** Consecutive 5xx that eject, or `false`. @default 5 */
  consecutive5xx: false | number;
  /** Consecutive connect failures that eject, or `false`. @default 5 */
  consecutiveConnectFailure: false | number;
  /** Base ejection time, ms. @default 30000 */
  baseEjectionTime: number;
  /** Longest ejection, ms. @default the larger of 300000 and `baseEjectionTime` */
  maxEjectionTime: number;
  /** Most backends ejected at once, percent. @default 10 */
  maxEjectionPercent: number;
  /** A passing check ends an ejection. @default true */
  unejectOnPassingCheck: boolean;
  /** Ejection count decay interval, ms. @default 10000 */
  interval: number;
}

/**
 * Envoy's healthy panic threshold, in percent (0 to 100; 0 turns it off): when
 * fewer than this share of the (non-draining) backends are available, requests
 * are spread over all of them, unhealthy and ejected ones included, rather
 * than piling onto the few left.
 */
export const panicThresholdOption = z.number().min(0).max(100);
