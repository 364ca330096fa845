import { randomUUID } from 'node:crypto';
import type { Backend } from '../core/backend.js';
import type { Events } from '../core/events.js';
import type { SharedRedis } from '../core/redis.js';
import type { Pool } from '../upstream/pool/pool.js';
import type { Backends, BackendsDeps } from './backends.js';
import { InstanceRegistry } from './cluster/instances.js';
import { type SharedBackend, SharedMembership } from './cluster/membership.js';
import type { ResolvedClusterOptions } from './cluster/options.js';
import { SharedHealth } from './cluster/shared-health.js';
import { SharedRollouts } from './cluster/shared-rollouts.js';
import type { RolloutControl } from './control-plane.js';
import type { RolloutHost, RolloutManager, RolloutView } from './rollout/rollout.js';
import { hostRollouts, optionsOf } from './rollout-host.js';

/**
 * Shared membership across instances: local changes of shareable backends
 * go out, remote ones come in through the backend lifecycle (and are never
 * sent back out). Returns `undefined` unless `cluster.membership` is on and
 * `redis` is given.
 *
 * @example
 * ```ts
 * import { joinCluster } from './cluster-glue.js';
 * declare const { redis, pool, backends, health }: Parameters<typeof joinCluster>[0];
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
    checkInterval: cluster.checkInterval,
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

/** The rest of the cluster next to membership: the instance registry, the shared health view, shared rollouts. */
export interface ClusterServices {
  /** Live instances on this Redis and prefix (1 without a registry): `rateLimit.outageInstances: 'live'`. */
  instances(): number;
  /** Rollouts: shared across instances when `cluster.rollouts` is on, else the local manager. */
  readonly rollouts: RolloutControl;
  /** The local rollout manager changed state: published when rollouts are shared. */
  changed(view: RolloutView): void;
  /** Stops publishing first (a rollout stopped by closing is left to a survivor to roll back), then leaves. */
  close(): Promise<void>;
}

/**
 * Starts the instance registry (`cluster` given), the shared health view
 * (`cluster.health`) and shared rollouts (`cluster.rollouts`, with
 * membership) on the shared Redis. Without them `rollouts` is the local
 * manager and `instances()` is 1.
 *
 * @example
 * ```ts
 * import { startClusterServices } from './cluster-glue.js';
 * declare const { redis, cluster, events, now, pool, membership, manager, host }: Parameters<typeof startClusterServices>[0];
 * const services = startClusterServices({ redis, cluster, events, now, pool, membership, manager, host });
 * services.rollouts.status();
 * ```
 */
export function startClusterServices(deps: {
  readonly redis: SharedRedis | undefined;
  readonly cluster: ResolvedClusterOptions;
  readonly events: Events;
  readonly now: () => number;
  readonly pool: Pool;
  readonly membership: SharedMembership | undefined;
  readonly manager: RolloutManager;
  readonly host: RolloutHost;
}): ClusterServices {
  const { redis, cluster, events, now, pool, membership, manager, host } = deps;
  if (!redis || cluster === false) {
    return { instances: () => 1, rollouts: manager, changed: () => {}, close: async () => {} };
  }
  const origin = membership?.origin ?? randomUUID();
  let health: SharedHealth | undefined;
  const registry = new InstanceRegistry({
    redis,
    id: origin,
    heartbeat: cluster.heartbeat,
    onChange: (live) => {
      events.emit('cluster:instances', { live: live.length });
      health?.membersChanged();
    },
  });
  if (cluster.health !== false) {
    health = new SharedHealth({
      redis,
      origin,
      quorum: cluster.health.quorum,
      registry,
      events,
      now,
      get: (id) => pool.get(id),
      all: () => pool.all(),
      markDown: (backend, down) => pool.mark(backend, { clusterDown: down }),
    });
    health.open();
  }
  registry.start();
  const shared =
    membership && cluster.rollouts !== false
      ? new SharedRollouts({ redis, origin, leaseTtl: cluster.rollouts.leaseTtl, manager, host, events })
      : undefined;
  shared?.open();
  return {
    instances: () => registry.count(),
    rollouts: shared ?? manager,
    changed: (view) => shared?.changed(view),
    async close() {
      await shared?.close();
      await health?.close();
      await registry.close();
    },
  };
}

/**
 * The control side of a balancer, in one step: the rollout manager and its
 * host, shared membership (started), and the cluster's services (registry,
 * shared health, shared rollouts). Without `redis` or `cluster` only the
 * local manager runs. `close()` stops all of it: shared rollouts first (a
 * rollout stopped by closing is left to a survivor to roll back), then
 * health, registry, membership, and the manager (a running rollout stops
 * where it is).
 *
 * @example
 * ```ts
 * import { hostControl } from './cluster-glue.js';
 * declare const { redis, cluster, events, now, random, pool, backends, health }: Parameters<typeof hostControl>[0];
 * const control = hostControl({ redis, cluster, events, now, random, pool, backends, health });
 * await control.rollouts.start({ backends: v2 }).done;
 * await control.close();
 * ```
 */
export function hostControl(
  deps: Pick<BackendsDeps, 'events' | 'now' | 'random' | 'pool' | 'health'> & {
    readonly redis: SharedRedis | undefined;
    readonly cluster: ResolvedClusterOptions;
    readonly backends: Backends;
  },
): ClusterServices {
  let services: ClusterServices | undefined;
  const { manager, host } = hostRollouts({ ...deps, onChange: (view) => services?.changed(view) });
  const membership = joinCluster(deps);
  membership?.start();
  const started = startClusterServices({ ...deps, membership, manager, host });
  services = {
    ...started,
    async close() {
      await started.close();
      await membership?.close();
      manager.close();
    },
  };
  return services;
}
