import type { Backend } from '../core/backend.js';
import type { BackendOptions } from '../upstream/pool/options.js';
import type { Backends, BackendsDeps } from './backends.js';
import { type RolloutHost, RolloutManager, type RolloutView } from './rollout/rollout.js';

/** Options that re-create `backend` as it is now: id, URL, transport, current weight and limit. */
export function optionsOf(backends: Backends, backend: Backend): BackendOptions & { id: string } {
  const input = backends.inputOf(backend);
  return {
    id: backend.id,
    url: input?.url ?? backend.url.href,
    weight: backend.weight,
    ...(Number.isFinite(backend.maxConnections) ? { maxConnections: backend.maxConnections } : {}),
    ...(input?.createConnection ? { createConnection: input.createConnection } : {}),
    ...(input?.tls ? { tls: input.tls } : {}),
  };
}

/**
 * Hosts rollouts: the {@link RolloutManager} driving the balancer's
 * backends through the backend lifecycle, and the host it drives them
 * through (shared rollouts restore a recorded set through the same host).
 * `onChange` hears every change of the rollout's state (shared rollouts
 * publish it).
 *
 * @example
 * ```ts
 * import { hostRollouts } from './rollout-host.js';
 * declare const { events, now, random, pool, backends, health }: Parameters<typeof hostRollouts>[0];
 * const { manager } = hostRollouts({ events, now, random, pool, backends, health });
 * await manager.start({ backends: v2, batchSize: 1 }).done;
 * ```
 */
export function hostRollouts(
  deps: Pick<BackendsDeps, 'events' | 'now' | 'random' | 'pool' | 'health'> & {
    readonly backends: Backends;
    readonly onChange?: ((view: RolloutView) => void) | undefined;
  },
): { manager: RolloutManager; host: RolloutHost } {
  const { events, now, random, pool, backends, health, onChange } = deps;
  const host: RolloutHost = {
    events,
    now,
    random,
    backends: () => pool.all(),
    get: (id) => pool.get(id),
    optionsOf: (backend) => optionsOf(backends, backend),
    add: (input, pending) => backends.join(input, 'rollout.backend', pending),
    update: (id, update) => {
      backends.update(id, update);
    },
    remove: (id, timeout) => backends.remove(id, { drain: true, timeout }),
    healthChecks: () => health.settings !== false,
    onChange: (view) => onChange?.(view),
  };
  return { manager: new RolloutManager(host), host };
}
