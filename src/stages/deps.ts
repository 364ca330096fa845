import type { Backend } from '../core/backend.js';
import type { Events } from '../core/events.js';
import type { TrustFn } from '../core/net/trust-proxy.js';
import type { SharedRedis } from '../core/redis.js';
import type { Stage, StageHandle, StageOptions, StageSection } from '../core/stage.js';
import type { Strategy } from '../core/strategy.js';
import type { UpstreamForwarder } from '../upstream/forwarder/upstream-forwarder.js';
import type { OutlierDetector } from '../upstream/health/outlier.js';
import type { WaitQueue } from '../upstream/overload/wait-queue.js';
import type { Pool } from '../upstream/pool/pool.js';
import type { Breakers } from './circuit-breaker/breakers.js';
import type { ResolvedHedgeOptions } from './retry/options.js';

/**
 * What the composition root hands every stage's `create(options, deps)`:
 * the balancer's clock and random source, its events, and the upstream
 * machinery a stage drives. A stage reads what it needs and keeps no other
 * reference to the balancer.
 *
 * @example
 * ```ts
 * import { selectStage } from './select/index.js';
 * declare const deps: import('./deps.js').StageDeps;
 * const handle = selectStage.create(undefined, deps);
 * ```
 */
export interface StageDeps {
  readonly events: Events;
  /** Balancer clock, monotonic ms. */
  readonly now: () => number;
  /** Random source in [0, 1). */
  readonly random: () => number;
  /** The shared Redis, when `redis` is given. */
  readonly redis: SharedRedis | undefined;
  /** Who may set `X-Forwarded-*`. */
  readonly trust: TrustFn;
  readonly pool: Pool;
  /** The strategy in force when the stage is created (stages that read it follow `strategy`). */
  readonly strategy: Strategy<Backend>;
  /** The wait queue for saturated pools, when `queue` is on. */
  readonly queue: WaitQueue | undefined;
  readonly forwarder: UpstreamForwarder;
  /** The per-backend breakers (configured by the `circuitBreaker` section). */
  readonly breakers: Breakers;
  /** Passive outlier detection (configured by the `outlierDetection` section). */
  readonly outliers: OutlierDetector;
  /** Resolved `hedge` (it needs `retry`). */
  readonly hedge: ResolvedHedgeOptions | false;
  /** Resolved `preserveHost`. */
  readonly preserveHost: boolean;
  /** Live balancer instances on the shared Redis (the cluster registry; 1 without it). */
  readonly instances?: (() => number) | undefined;
}

/**
 * Declares a built-in stage: `Stage` with the deps fixed to {@link StageDeps}
 * and the name and section kept as literal types, so `STAGES` can derive the
 * stage names and option sections from the list.
 *
 * @example
 * ```ts
 * import { defineStage } from './deps.js';
 * export const timingStage = defineStage({
 *   name: 'timing',
 *   section: undefined,
 *   upgrade: false,
 *   create: () => ({ middleware: async (ctx, next) => next() }),
 * });
 * ```
 */
export function defineStage<
  const N extends string,
  const Sec extends StageSection | undefined,
  H extends StageHandle<StageOptions<Sec>>,
>(stage: Stage<N, Sec, StageDeps, H>): Stage<N, Sec, StageDeps, H> {
  return stage;
}
