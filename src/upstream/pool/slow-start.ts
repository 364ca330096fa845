import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { duration, parseOptions } from '../../core/zod.js';

/**
 * Options of slow start: a backend that was just added, or just recovered,
 * gets a reduced weight that ramps up to its configured weight, so a cold
 * server (empty caches, JIT not warm, connection pools empty) is not handed
 * its full share at once.
 *
 * @example
 * ```ts
 * import { slowStartOptionSchema } from './slow-start.js';
 * slowStartOptionSchema.parse({ window: '30s' }); // { window: 30000, aggression: 1, minWeightPercent: 10 }
 * ```
 */
export const slowStartOptionSchema = z.strictObject({
  /**
   * Length of the ramp, from the moment the backend joined or recovered.
   * Milliseconds or a duration string (`'30s'`), >= 0; 0 turns the ramp off.
   */
  window: duration().meta({ description: 'Length of the ramp (ms or duration string, >= 0; 0 = off).' }),
  /**
   * Shape of the ramp (Envoy's `aggression`): the weight follows
   * `(t / window)^(1 / aggression)`. 1 is linear; above 1 the weight rises
   * quickly at first and flattens; below 1 it stays low longer and rises at
   * the end. A finite number > 0.
   * @default 1
   */
  aggression: z
    .number()
    .finite()
    .gt(0, { error: 'a number > 0 (1 = linear)' })
    .default(1)
    .meta({ description: 'Ramp curve exponent 1/aggression, > 0; 1 = linear. Default 1.' }),
  /**
   * Floor of the ramp, in percent of the configured weight, so a backend
   * starting its ramp still gets some traffic to warm with. 0..100.
   * @default 10 (Envoy)
   */
  minWeightPercent: z
    .number()
    .min(0, { error: 'a percentage from 0 to 100' })
    .max(100, { error: 'a percentage from 0 to 100' })
    .default(10)
    .meta({ description: 'Floor of the ramp in percent of the weight, 0..100. Default 10.' }),
});

/**
 * Slow-start options, as written by users.
 *
 * @example
 * ```ts
 * import { type SlowStartOptions } from './slow-start.js';
 * const options: SlowStartOptions = { window: '1m', aggression: 2 };
 * ```
 */
export interface SlowStartOptions {
  /** Length of the ramp, from the moment the backend joined or recovered; milliseconds or a duration string, >= 0 (0 turns the ramp off). Required. */
  window: Duration;
  /** Shape of the ramp (Envoy's `aggression`): the weight follows `(t / window)^(1 / aggression)`; 1 is linear. A finite number > 0. @default 1 */
  aggression?: number | undefined;
  /** Floor of the ramp, in percent of the configured weight, 0 to 100. @default 10 */
  minWeightPercent?: number | undefined;
}

/**
 * Slow-start options after validation: `window` in milliseconds, defaults filled in.
 *
 * @example
 * ```ts
 * import { type ResolvedSlowStartOptions, resolveSlowStart } from './slow-start.js';
 * const config: ResolvedSlowStartOptions = resolveSlowStart({ window: '30s' });
 * ```
 */
export interface ResolvedSlowStartOptions {
  /** Length of the ramp, ms (0: off). */
  readonly window: number;
  /** Ramp shape exponent. @default 1 */
  readonly aggression: number;
  /** Ramp floor, percent of the weight. @default 10 */
  readonly minWeightPercent: number;
}

/**
 * Validates slow-start options and returns a frozen config. Throws a
 * `ConfigError` naming the option (under `path`) when one is bad.
 *
 * @example
 * ```ts
 * import { resolveSlowStart } from './slow-start.js';
 * const config = resolveSlowStart({ window: '30s' });
 * // { window: 30000, aggression: 1, minWeightPercent: 10 }
 * ```
 */
export function resolveSlowStart(options: SlowStartOptions, path = 'slowStart'): ResolvedSlowStartOptions {
  return Object.freeze(parseOptions(slowStartOptionSchema, options, path));
}

/**
 * The fraction of its weight a backend gets `elapsedMs` after it joined or
 * recovered, by Envoy's slow-start formula:
 * `max(minWeightPercent / 100, (max(t, 1) / window)^(1 / aggression))` while
 * `t < window`, and 1 from then on. Non-decreasing in `t`; in `(0, 1]` unless
 * `minWeightPercent` is 0 (then it still starts above 0, at `1 ms / window`).
 * A negative or NaN `elapsedMs` (clock skew) counts as the start of the ramp.
 *
 * @example
 * ```ts
 * import { slowStartFactor } from './slow-start.js';
 * slowStartFactor(15_000, { window: 30_000, aggression: 1, minWeightPercent: 10 }); // 0.5
 * ```
 */
export function slowStartFactor(elapsedMs: number, config: ResolvedSlowStartOptions): number {
  const { window } = config;
  if (elapsedMs >= window) return 1;
  let t = elapsedMs;
  if (!(t > 1)) t = 1; // Envoy's max(t, 1); NaN counts as the start too
  const timeFactor = t / window;
  const ramp = config.aggression === 1 ? timeFactor : timeFactor ** (1 / config.aggression);
  const floor = config.minWeightPercent / 100;
  return Math.min(1, Math.max(ramp, floor));
}

/**
 * A backend's effective weight during slow start: `weight × slowStartFactor`.
 * Pure; the pool calls it to compute `effectiveWeight`.
 *
 * @example
 * ```ts
 * import { resolveSlowStart, slowStartWeight } from './slow-start.js';
 * const config = resolveSlowStart({ window: '10s' });
 * slowStartWeight(4, 0, config);      // 0.4 (the 10% floor)
 * slowStartWeight(4, 5_000, config);  // 2
 * slowStartWeight(4, 10_000, config); // 4
 * ```
 */
export function slowStartWeight(weight: number, elapsedMs: number, config: ResolvedSlowStartOptions): number {
  return weight * slowStartFactor(elapsedMs, config);
}
