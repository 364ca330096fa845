import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { duration, positiveInt } from '../../core/zod.js';
import { type BackendOptions, backendOptionsSchema } from '../../upstream/pool/options.js';

/** What each batch's backends must show during its observation window. */
export const healthGateSchema = z.strictObject({
  /**
   * Highest share of failed attempts on the batch's backends (connect
   * failures, resets, timeouts, 5xx answers) over the window, 0 to 1. The gate
   * fails as soon as `minRequests` attempts have finished above it. @default 0.05
   */
  maxErrorRate: z.number().min(0).max(1).default(0.05),
  /**
   * Highest p99 (nearest rank) of the duration of client requests the
   * batch's backends served during the window, from the first byte in to the
   * last byte out, in milliseconds. Checked at the end of the window. @default none
   */
  maxLatencyMs: duration()
    .refine((ms) => ms > 0, { error: 'a duration > 0' })
    .optional(),
  /**
   * Fewest attempts the batch's backends must finish during the window for
   * the gate to judge them; fewer fails the gate ("insufficient traffic").
   * 0 accepts a window without traffic. @default 10
   */
  minRequests: z.number().int().min(0).max(1_000_000_000).default(10),
  /**
   * What a batch whose window saw fewer than `minRequests` attempts gets
   * (at night, in staging):
   * - `'health-checks'`: judged by its active health checks over the window:
   *   it passes when every backend of the batch passed at least one check
   *   during the window and none failed (with `healthCheck` off there is no
   *   evidence, and it fails as `'fail'` does);
   * - `'wait'`: the window is extended, up to `trafficWait`, until
   *   `minRequests` attempts have finished (then judged as usual), and fails
   *   if they never come;
   * - `'fail'`: the gate fails ("insufficient traffic"), and the rollout
   *   rolls back with `autoRollback`.
   * A batch that failed, or turned unhealthy, ejected or open, fails under
   * every policy. @default 'health-checks'
   */
  lowTraffic: z.enum(['health-checks', 'wait', 'fail']).default('health-checks'),
  /** With `lowTraffic: 'wait'`, longest extension of a window short of traffic. @default '5m' */
  trafficWait: duration().default(300_000),
});

/** Options of `lb.rollout()`. */
export const rolloutSchema = z.strictObject({
  /**
   * The new backend set. An entry with the id and URL of a current backend
   * keeps that backend (its `weight` and `maxConnections` are applied when
   * the rollout completes); any other entry needs an id no current backend
   * has. At least one entry must be new.
   */
  backends: z.array(backendOptionsSchema).min(1),
  /** New backends added per batch (and about as many old ones drained after it). @default 1 */
  batchSize: positiveInt().max(10_000).default(1),
  /** How long each batch is observed by the health gate once it takes traffic. @default '30s' */
  interval: duration().default(30_000),
  /** Error-rate and latency limits each batch must stay under during `interval`. */
  healthGate: healthGateSchema.default(() => healthGateSchema.parse({})),
  /**
   * With `healthCheck` on, longest wait for a batch's backends to pass
   * `healthyThreshold` checks before they take traffic; past it the gate
   * fails. @default '1m'
   */
  healthTimeout: duration()
    .refine((ms) => ms > 0, { error: 'a duration > 0' })
    .default(60_000),
  /** Longest drain of each old backend. @default the balancer's `drainTimeout` */
  drainTimeout: duration().optional(),
  /** On a failed gate (or cancellation), restore the previous set. `false`: stop where it is. @default true */
  autoRollback: z.boolean().default(true),
  /** Cancels the rollout (then rolls back when `autoRollback`). */
  signal: z.custom<AbortSignal>((value) => value instanceof AbortSignal, { error: 'an AbortSignal' }).optional(),
});

/**
 * Options of `lb.rollout()`, as given.
 */
export interface RolloutOptions {
  /**
   * The new backend set, at least one entry. An entry with the id and URL of
   * a current backend keeps that backend (its `weight` and `maxConnections`
   * are applied when the rollout completes); any other entry needs an id no
   * current backend has. At least one entry must be new. Required.
   */
  backends: BackendOptions[];
  /** New backends added per batch (and about as many old ones drained after it), 1 to 10 000. @default 1 */
  batchSize?: number | undefined;
  /** How long each batch is observed by the health gate once it takes traffic; milliseconds or a duration string. @default '30s' */
  interval?: Duration | undefined;
  /** Error-rate and latency limits each batch must stay under during `interval`. @default { maxErrorRate: 0.05, minRequests: 10, lowTraffic: 'health-checks' } */
  healthGate?: HealthGateOptions | undefined;
  /**
   * With `healthCheck` on, longest wait for a batch's backends to pass
   * `healthyThreshold` checks before they take traffic; past it the gate
   * fails. Milliseconds or a duration string, > 0. @default '1m'
   */
  healthTimeout?: Duration | undefined;
  /** Longest drain of each old backend; milliseconds or a duration string. @default the balancer's `drainTimeout` */
  drainTimeout?: Duration | undefined;
  /** On a failed gate (or cancellation), restore the previous set. `false`: stop where it is. @default true */
  autoRollback?: boolean | undefined;
  /** Cancels the rollout (then rolls back when `autoRollback`). @default none */
  signal?: AbortSignal | undefined;
}

/** `rollout({ healthGate })`, as given: what each batch's backends must show during its observation window. */
export interface HealthGateOptions {
  /**
   * Highest share of failed attempts on the batch's backends (connect
   * failures, resets, timeouts, 5xx answers) over the window, 0 to 1. @default 0.05
   */
  maxErrorRate?: number | undefined;
  /** Highest p99 of the duration of client requests the batch's backends served during the window; milliseconds or a duration string, > 0. @default none */
  maxLatencyMs?: Duration | undefined;
  /** Fewest attempts the batch's backends must finish during the window for the gate to judge them, 0 to 1e9. @default 10 */
  minRequests?: number | undefined;
  /**
   * What a batch whose window saw fewer than `minRequests` attempts gets:
   * `'health-checks'` (judged by its active health checks), `'wait'` (the
   * window is extended up to `trafficWait`) or `'fail'`. @default 'health-checks'
   */
  lowTraffic?: 'health-checks' | 'wait' | 'fail' | undefined;
  /** With `lowTraffic: 'wait'`, longest extension of a window short of traffic; milliseconds or a duration string. @default '5m' */
  trafficWait?: Duration | undefined;
}

/** Options of `lb.rollout()`, validated, with defaults (durations in milliseconds). */
export interface ResolvedRolloutOptions {
  /** The new backend set. */
  backends: BackendOptions[];
  /** Backends per batch. @default 1 */
  batchSize: number;
  /** Observation window per batch, ms. @default 30000 */
  interval: number;
  /** The health gate. */
  healthGate: HealthGate;
  /** Longest wait for health checks to pass, ms. @default 60000 */
  healthTimeout: number;
  /** Longest drain per old backend, ms; undefined: the balancer's `drainTimeout`. */
  drainTimeout?: number | undefined;
  /** Roll back on failure. @default true */
  autoRollback: boolean;
  /** Cancellation signal. */
  signal?: AbortSignal | undefined;
}

/** The health gate, validated (durations in milliseconds). */
export interface HealthGate {
  /** Highest failed share, 0 to 1. @default 0.05 */
  maxErrorRate: number;
  /** Highest p99 latency, ms; undefined: not checked. */
  maxLatencyMs?: number | undefined;
  /** Fewest attempts judged. @default 10 */
  minRequests: number;
  /** Low-traffic policy. @default 'health-checks' */
  lowTraffic: 'health-checks' | 'wait' | 'fail';
  /** Longest window extension, ms. @default 300000 */
  trafficWait: number;
}
