import { z } from 'zod';
import { duration, positiveInt } from '../../core/zod.js';
import { backendOptionsSchema } from '../../upstream/pool/options.js';

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
 *
 * @useDeclaredType
 */
export type RolloutOptions = z.input<typeof rolloutSchema>;
/** Options of `lb.rollout()`, validated, with defaults. */
export type ResolvedRolloutOptions = z.output<typeof rolloutSchema>;
/** The health gate, validated. */
export type HealthGate = z.output<typeof healthGateSchema>;
