import { ConfigError } from '../../core/errors.js';
import type { BackendOptions } from '../../upstream/pool/options.js';

/** What a plan needs to know of a backend already in the pool. */
export interface PlanMember {
  readonly id: string;
  /** Normalised URL (`URL.href`). */
  readonly url: string;
  readonly weight: number;
  /** `Infinity` when unlimited. */
  readonly maxConnections: number;
  readonly draining: boolean;
}

/** A backend of the new set that stays: same id and URL as a current one. */
export interface KeptBackend {
  readonly id: string;
  /** Weight and limit of the new set's entry, applied on completion. */
  readonly next: { readonly weight: number; readonly maxConnections: number };
  /** Weight and limit before the rollout, restored by a rollback. */
  readonly previous: { readonly weight: number; readonly maxConnections: number };
}

/** The moves of a rollout, batch by batch. */
export interface RolloutPlan {
  /** Current (non-draining) backend ids: the set a rollback restores. */
  readonly from: readonly string[];
  /** Ids of the new set. */
  readonly to: readonly string[];
  /** New backends, in order, each with its id filled in. */
  readonly add: readonly (BackendOptions & { id: string })[];
  /** Current backends not in the new set, in pool order. */
  readonly remove: readonly string[];
  readonly keep: readonly KeptBackend[];
  readonly batches: number;
  readonly batchSize: number;
}

/**
 * Plans a rollout from the pool's `members` (every backend, draining ones
 * included) to `entries` (validated backend options). Throws `ConfigError`
 * naming `backends[i].id` for an id used twice in the new set, held by a
 * draining backend, or held by a current backend with another URL (a rollout
 * never replaces a backend in place: in-flight requests and stats belong to
 * the old one), and `backends` when nothing in the new set is new.
 *
 * @example
 * ```ts
 * import { planRollout } from './plan.js';
 * declare const members: Parameters<typeof planRollout>[0];
 * const plan = planRollout(members, [{ id: 'v2-a', url: 'http://10.0.1.1:8080' }], 1);
 * plan.batches; // 1
 * ```
 */
export function planRollout(
  members: readonly PlanMember[],
  entries: readonly BackendOptions[],
  batchSize: number,
): RolloutPlan {
  const byId = new Map(members.map((m) => [m.id, m]));
  const seen = new Set<string>();
  const add: (BackendOptions & { id: string })[] = [];
  const keep: KeptBackend[] = [];
  entries.forEach((entry, i) => {
    const url = new URL(entry.url);
    const id = entry.id ?? url.host;
    const path = `backends[${i}].id`;
    if (seen.has(id)) throw new ConfigError(path, id, 'an id used once in the new set');
    seen.add(id);
    const current = byId.get(id);
    if (current === undefined) {
      add.push({ ...entry, id });
      return;
    }
    if (current.draining) throw new ConfigError(path, id, 'an id not held by a backend being removed');
    if (current.url !== url.href) {
      throw new ConfigError(
        path,
        id,
        `an id no current backend has (${id} is ${current.url}; a rollout adds new versions beside the old ones, so give each its own id)`,
      );
    }
    keep.push({
      id,
      next: { weight: entry.weight ?? 1, maxConnections: entry.maxConnections ?? Number.POSITIVE_INFINITY },
      previous: { weight: current.weight, maxConnections: current.maxConnections },
    });
  });
  if (add.length === 0) {
    throw new ConfigError(
      'backends',
      entries.map((e) => e.id ?? new URL(e.url).host),
      'at least one backend not already in the pool (change weights with updateBackend, remove with removeBackend)',
    );
  }
  const live = members.filter((m) => !m.draining);
  return {
    from: live.map((m) => m.id),
    to: [...seen],
    add,
    remove: live.filter((m) => !seen.has(m.id)).map((m) => m.id),
    keep,
    batches: Math.ceil(add.length / batchSize),
    batchSize,
  };
}

/**
 * How many old backends are gone once batch `batch` (1-based) has passed:
 * spread evenly, rounded down so capacity leaves no sooner than its
 * replacement arrives; all of them after the last batch.
 *
 * @example
 * ```ts
 * import { removedAfter } from './plan.js';
 * removedAfter(3, 1, 2); // 1
 * ```
 */
export function removedAfter(batches: number, batch: number, old: number): number {
  return Math.floor((old * batch) / batches);
}
