import type { BackendSnapshot } from '../core/backend.js';
import type { BackendOptions, BackendUpdate } from '../upstream/pool/options.js';
import type { RemoveOptions, RemoveResult } from './backends.js';
import type { RolloutOptions } from './rollout/options.js';
import type { RollbackResult, RolloutResult, RolloutStatus } from './rollout/rollout.js';

/** The rollout operations an operator surface needs, fire-and-forget ones included. */
export interface RolloutControl {
  /** Starts a rollout; throws `ConfigError` or `ERR_ROLLOUT_IN_PROGRESS` at once. */
  start(options: RolloutOptions): { readonly id: string; readonly done: Promise<RolloutResult> };
  /** Cancels the running rollout; false when none runs. */
  cancel(reason?: string): boolean;
  /** Starts a rollback; throws `ERR_NO_ROLLOUT` or `ERR_ROLLOUT_IN_PROGRESS` at once. */
  startRollback(): { readonly id: string; readonly done: Promise<RollbackResult> };
  /** The running rollout, or else the last one. */
  status(): RolloutStatus | undefined;
}

/**
 * The control operations of a running balancer, as operator surfaces (the
 * admin API, a dashboard) see them. They depend on this interface, never on
 * the balancer itself, so no surface imports `balancer.ts`.
 *
 * @example
 * ```ts
 * import { type ControlPlane } from 'switchyard-lb';
 * function drainAll(control: ControlPlane) {
 *   return Promise.all(control.backends().map((b) => control.removeBackend(b.id, { drain: true })));
 * }
 * ```
 */
export interface ControlPlane {
  /** Read-only snapshots of every backend, with live stats. */
  backends(): BackendSnapshot[];
  addBackend(options: BackendOptions): BackendSnapshot;
  updateBackend(id: string, update: BackendUpdate): BackendSnapshot;
  removeBackend(id: string, options?: RemoveOptions): Promise<RemoveResult>;
  /** Validates and applies a run-time patch (`lb.configure`). */
  configure(patch: object): void;
  /** The resolved, frozen configuration (plain data plus caller-owned objects). */
  readonly config: object;
  readonly rollouts: RolloutControl;
}
