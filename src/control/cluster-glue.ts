import type { Backend } from '../core/backend.js';
import type { SharedRedis } from '../core/redis.js';
import type { Backends, BackendsDeps } from './backends.js';
import { type SharedBackend, SharedMembership } from './cluster/membership.js';
import type { ResolvedClusterOptions } from './cluster/options.js';
import { optionsOf } from './rollout-host.js';

/**
 * Shared membership across instances: local changes of shareable backends
 * go out, remote ones come in through the backend lifecycle (and are never
 * sent back out). Returns `undefined` unless `cluster.membership` is on and
 * `redis` is given.
 *
 * @example
 * ```ts
 * const membership = joinCluster({ redis, cluster: config.cluster, events, pool, backends, health });
 * membership?.start();
 * ```
 */
export function joinCluster(
  deps: Pick<BackendsDeps, 'events' | 'pool' | 'health'> & {
    readonly redis: SharedRedis | undefined;
    readonly cluster: ResolvedClusterOptions;
    readonly backends: Backends;
  },
): SharedMembership | undefined {
  const { redis, cluster, events, pool, backends, health } = deps;
  if (!redis || cluster === false || !cluster.membership) return undefined;
  let remote = false;
  const sharedOf = (b: Backend): SharedBackend | undefined => {
    const { createConnection, ...shared } = optionsOf(backends, b);
    return createConnection === undefined ? { ...shared, url: b.url.href, weight: b.weight } : undefined;
  };
  const applyRemote = (change: () => unknown) => {
    remote = true;
    try {
      change();
    } finally {
      remote = false;
    }
  };
  const membership = new SharedMembership({
    redis,
    channel: cluster.channel,
    events,
    host: {
      shared: () => pool.all().flatMap((b) => (b.draining ? [] : (sharedOf(b) ?? []))),
      localOnly: (id) => {
        const b = pool.get(id);
        return b !== undefined && sharedOf(b) === undefined;
      },
      add: (b, pending) => applyRemote(() => backends.join(b, 'cluster.backend', pending && health.settings !== false)),
      update: (b) =>
        applyRemote(() => backends.update(b.id, { weight: b.weight, maxConnections: b.maxConnections ?? Infinity })),
      remove: (id) => applyRemote(() => backends.remove(id, { drain: true }).catch(() => {})),
    },
  });
  // Publishes a local change of a shareable backend (never one applied from another instance).
  backends.onChange = (op, backend, pending) => {
    if (remote) return;
    const shared = sharedOf(backend);
    if (shared) membership.changed(op, shared, pending);
  };
  return membership;
}
