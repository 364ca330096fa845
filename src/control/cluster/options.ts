import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';

const clusterObjectSchema = z.strictObject({
  /**
   * Share backend membership (`addBackend`, `updateBackend`, `removeBackend`,
   * rollouts) with every instance using the same Redis and `keyPrefix`. @default true
   */
  membership: z.boolean().default(true),
  /** Pub/sub channel of membership changes. @default `<keyPrefix>membership` */
  channel: z.string().min(1).max(256).optional(),
});

/** The `cluster` option: `{ membership, channel? }` or `false` (off). */
export const clusterSchema = z
  .union([z.literal(false), clusterObjectSchema], {
    error: 'false, or { membership: true, channel? } (requires redis)',
  })
  .default(false);

/** The `cluster` option, as you pass it (or `false`, the default). */
export interface ClusterOptions {
  /** Share backend membership (add, update, remove, rollouts) with every instance on the same Redis and `keyPrefix`. @default true */
  membership?: boolean | undefined;
  /** Pub/sub channel of membership changes. @default `<keyPrefix>membership` */
  channel?: string | undefined;
}

/** The `cluster` option once resolved. */
export type ResolvedClusterOptions = z.output<typeof clusterSchema>;

/**
 * Shared membership needs the shared Redis connection.
 *
 * @example
 * ```ts
 * checkClusterOptions(config.cluster, config.redis !== undefined);
 * ```
 */
export function checkClusterOptions(cluster: ResolvedClusterOptions, hasRedis: boolean): void {
  if (cluster && cluster.membership === true && !hasRedis) {
    throw new ConfigError('cluster', cluster, "false, unless the balancer's redis option is given");
  }
}
