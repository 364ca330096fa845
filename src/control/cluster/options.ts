import { z } from 'zod';
import type { Duration } from '../../core/duration.js';
import { ConfigError } from '../../core/errors.js';
import { duration } from '../../core/zod.js';

const healthObjectSchema = z.strictObject({
  /**
   * How many live instances must see a backend down (their own active checks,
   * outlier ejection or open breaker) for every instance to treat it as down:
   * a count, or `'majority'` (more than half of the live instances). Each
   * instance still stops using a backend at once when it sees it down itself.
   * @default 'majority'
   */
  quorum: z.union([z.literal('majority'), z.number().int().min(1).max(10_000)]).default('majority'),
});

const rolloutsObjectSchema = z.strictObject({
  /**
   * Lifetime of the lease the driving instance holds on a shared rollout,
   * renewed every third of it; when the driver dies, another instance takes
   * the rollout over (and rolls it back) once the lease has expired.
   * @default '6s'
   */
  leaseTtl: duration()
    .refine((ms) => ms >= 300, { error: 'a duration >= 300 ms' })
    .default(6000),
});

const clusterObjectSchema = z.strictObject({
  /**
   * Share backend membership (`addBackend`, `updateBackend`, `removeBackend`,
   * rollouts) with every instance using the same Redis and `keyPrefix`. @default true
   */
  membership: z.boolean().default(true),
  /** Pub/sub channel of membership changes. @default `<keyPrefix>membership` */
  channel: z.string().min(1).max(256).optional(),
  /**
   * How often each instance reads back the shared set's epoch and counter, to
   * notice a set Redis lost while nothing changed (FLUSHALL, failover); a
   * lost set is noticed at once on a reconnect or the next change. `0`: only
   * then. @default '5s'
   */
  checkInterval: duration().default(5000),
  /**
   * How often each instance refreshes its entry in the live-instance registry
   * (`<keyPrefix>instances`); an instance silent for 3 heartbeats counts as
   * gone (health quorum, `rateLimit.outageShare: 'instances'`). @default '2s'
   */
  heartbeat: duration()
    .refine((ms) => ms >= 50, { error: 'a duration >= 50 ms' })
    .default(2000),
  /** Shared health view (`{ quorum }`), or `false`: each instance judges backends alone. @default { quorum: 'majority' } */
  health: z.union([z.literal(false), healthObjectSchema]).default(() => healthObjectSchema.parse({})),
  /**
   * Shared rollouts (`{ leaseTtl }`): plan and progress in Redis, the same
   * `rolloutStatus()` on every instance, `rollback()` and cancel from any, and
   * a rollback by a surviving instance when the driver dies; `false`: rollouts
   * stay local to the instance that started them. @default { leaseTtl: '6s' }
   */
  rollouts: z.union([z.literal(false), rolloutsObjectSchema]).default(() => rolloutsObjectSchema.parse({})),
});

/** The `cluster` option: `{ membership, channel?, checkInterval?, heartbeat?, health?, rollouts? }` or `false` (off). */
export const clusterSchema = z
  .union([z.literal(false), clusterObjectSchema], {
    error: 'false, or { membership: true, channel?, checkInterval?, heartbeat?, health?, rollouts? } (requires redis)',
  })
  .default(false);

/** The `cluster` option, as you pass it (or `false`, the default). */
export interface ClusterOptions {
  /** Share backend membership (add, update, remove, rollouts) with every instance on the same Redis and `keyPrefix`. @default true */
  membership?: boolean | undefined;
  /** Pub/sub channel of membership changes. @default `<keyPrefix>membership` */
  channel?: string | undefined;
  /** How often the shared set's epoch is read back (notices a set Redis lost); ms or `'5s'`; `0`: on reconnect and change only. @default '5s' */
  checkInterval?: Duration | undefined;
  /** Refresh period of the live-instance registry; an instance silent for 3 is gone. >= 50 ms. @default '2s' */
  heartbeat?: Duration | undefined;
  /** Shared health view: `{ quorum }` (a count or `'majority'` of live instances), or `false`. @default { quorum: 'majority' } */
  health?: false | { quorum?: number | 'majority' | undefined } | undefined;
  /** Shared rollouts: `{ leaseTtl }` (>= 300 ms), or `false` (rollouts stay local). @default { leaseTtl: '6s' } */
  rollouts?: false | { leaseTtl?: Duration | undefined } | undefined;
}

/** The `cluster` option once resolved. */
export type ResolvedClusterOptions = z.output<typeof clusterSchema>;

/**
 * Shared membership needs the shared Redis connection.
 *
 * @example
 * ```ts
 * import { checkClusterOptions } from './options.js';
 * checkClusterOptions(config.cluster, config.redis !== undefined);
 * ```
 */
export function checkClusterOptions(cluster: ResolvedClusterOptions, hasRedis: boolean): void {
  if (cluster && cluster.membership === true && !hasRedis) {
    throw new ConfigError('cluster', cluster, "false, unless the balancer's redis option is given");
  }
}
