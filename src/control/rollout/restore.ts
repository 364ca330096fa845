import type { Backend } from '../../core/backend.js';
import type { BackendOptions } from '../../upstream/pool/options.js';

/** What restoring a set needs of the balancer (a subset of the rollout host). */
export interface RestoreHost {
  get(id: string): Backend | undefined;
  add(options: BackendOptions & { id: string }, pending: boolean): Backend;
  remove(id: string, timeout: number | undefined): Promise<unknown>;
}

/**
 * Re-adds the backends of `previous` that are gone (`pending`: they take no
 * traffic until active checks pass). One still draining cannot be restored;
 * that, and any add that throws, is pushed to `errors`.
 *
 * @example
 * ```ts
 * import { readdPrevious } from './restore.js';
 * declare const host: import('./restore.js').RestoreHost;
 * declare const run: { previous: Parameters<typeof readdPrevious>[1] };
 * const errors: string[] = [];
 * const restored = readdPrevious(host, run.previous, false, errors);
 * ```
 */
export function readdPrevious(
  host: RestoreHost,
  previous: readonly (BackendOptions & { id: string })[],
  pending: boolean,
  errors: string[],
): Backend[] {
  const restored: Backend[] = [];
  for (const options of previous) {
    const existing = host.get(options.id);
    if (existing && !existing.draining) continue;
    if (existing) {
      errors.push(`${options.id} is being removed and cannot be restored`);
      continue;
    }
    try {
      restored.push(host.add(options, pending));
    } catch (error) {
      errors.push(`${options.id}: ${(error as Error).message}`);
    }
  }
  return restored;
}

/**
 * Drains and removes the backends a rollout `added` that are still live and
 * were not part of `previous`; resolves with their ids once all are gone (a
 * failed removal is pushed to `errors`).
 *
 * @example
 * ```ts
 * import { removeAdded } from './restore.js';
 * declare const host: import('./restore.js').RestoreHost;
 * declare const run: { added: Parameters<typeof removeAdded>[1]; previous: Parameters<typeof removeAdded>[2] };
 * const errors: string[] = [];
 * const removed = await removeAdded(host, run.added, run.previous, undefined, errors);
 * ```
 */
export async function removeAdded(
  host: RestoreHost,
  added: readonly string[],
  previous: readonly { id: string }[],
  drainTimeout: number | undefined,
  errors: string[],
): Promise<string[]> {
  const removed = added.filter((id) => {
    const backend = host.get(id);
    return backend !== undefined && !backend.draining && !previous.some((p) => p.id === id);
  });
  await Promise.all(
    removed.map((id) =>
      (host.get(id) ? host.remove(id, drainTimeout) : Promise.resolve()).catch((error: Error) => {
        errors.push(`${id}: ${error.message}`);
      }),
    ),
  );
  return removed;
}
