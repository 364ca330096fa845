import type { Backend } from '../../core/backend.js';
import type { Events, SwitchyardEvents } from '../../core/events.js';
import type { UpstreamError } from '../../core/upstream-error.js';
import type { Pool } from '../pool/pool.js';
import type { ResolvedOutlierDetectionOptions } from './options.js';

/**
 * Receives the outcome of every upstream attempt, from the `forward` stage.
 *
 * @example
 * ```ts
 * import { type UpstreamObserver } from './outlier.js';
 * const log: UpstreamObserver = {
 *   response: (backend, status) => console.log(backend.id, status),
 *   failure: (backend, error) => console.log(backend.id, error.code),
 * };
 * ```
 */
export interface UpstreamObserver {
  /** `backend` answered with `status` (headers arrived). */
  response(backend: Backend, status: number): void;
  /** The attempt to `backend` got no valid answer. Client aborts are not reported. */
  failure(backend: Backend, error: UpstreamError): void;
}

type EjectReason = SwitchyardEvents['backend:ejected']['reason'];

class OutlierState {
  consecutive5xx = 0;
  consecutiveConnect = 0;
  /** Times ejected, the ejection-time multiplier; decays while in service. */
  ejections = 0;
  /** When the last ejection ended (balancer clock). */
  restoredAt = 0;
  /** When the current ejection began (balancer clock). */
  ejectedAt = 0;
  timer: NodeJS.Timeout | undefined;
}

/** What outlier detection needs from the balancer. */
export interface OutlierDeps {
  readonly pool: Pool;
  readonly events: Events;
  readonly now: () => number;
}

/**
 * Passive outlier detection, after Envoy's: counts consecutive 5xx answers
 * and consecutive attempts without a valid answer per backend, and ejects a
 * backend that reaches a limit for `baseEjectionTime × times ejected`
 * (capped at `maxEjectionTime`), unless that would eject more than
 * `maxEjectionPercent` of the pool (one backend may always be ejected;
 * ejected backends that active health checks also mark unhealthy do not
 * count, as they take no capacity the checks had not taken already). The
 * multiplier drops by one for each `interval` a backend then stays in service.
 * A timer per ejection restores the backend and reports `backend:restored`;
 * so does an active health check that starts after the ejection and passes
 * (Envoy's `successful_active_health_check_uneject_host`, on by default), so
 * a backend that recovered does not sit out the rest of a 30 s ejection,
 * holding the only ejection slot and pushing the pool towards panic.
 *
 * @example
 * ```ts
 * import { OutlierDetector } from './outlier.js';
 * import { outlierDetectionSchema } from './options.js';
 * const outliers = new OutlierDetector({ pool, events, now: () => performance.now() });
 * outliers.configure(outlierDetectionSchema.parse({ consecutive5xx: 3 }));
 * outliers.response(backend, 503);
 * ```
 */
export class OutlierDetector implements UpstreamObserver {
  readonly #deps: OutlierDeps;
  readonly #states = new Map<Backend, OutlierState>();
  readonly #ejected = new Set<Backend>();
  #settings: ResolvedOutlierDetectionOptions | false = false;

  constructor(deps: OutlierDeps) {
    this.#deps = deps;
  }

  get enabled(): boolean {
    return this.#settings !== false;
  }

  /** Applies new settings; `false` turns detection off and restores every ejected backend. */
  configure(settings: ResolvedOutlierDetectionOptions | false): void {
    this.#settings = settings;
    if (settings !== false) return;
    for (const backend of [...this.#ejected]) this.#restore(backend);
    this.#states.clear();
  }

  response(backend: Backend, status: number): void {
    const settings = this.#settings;
    if (settings === false) return;
    const state = this.#state(backend);
    state.consecutiveConnect = 0;
    if (status < 500) {
      state.consecutive5xx = 0;
      return;
    }
    state.consecutive5xx++;
    const limit = settings.consecutive5xx;
    if (limit !== false && state.consecutive5xx >= limit) this.#eject(backend, state, settings, 'consecutive-5xx');
  }

  failure(backend: Backend, _error: UpstreamError): void {
    const settings = this.#settings;
    if (settings === false) return;
    const state = this.#state(backend);
    // Envoy's default: a failure without an answer counts as a 5xx too.
    state.consecutive5xx++;
    state.consecutiveConnect++;
    const connect = settings.consecutiveConnectFailure;
    const any = settings.consecutive5xx;
    if (connect !== false && state.consecutiveConnect >= connect) {
      this.#eject(backend, state, settings, 'consecutive-connect-failure');
    } else if (any !== false && state.consecutive5xx >= any) {
      this.#eject(backend, state, settings, 'consecutive-5xx');
    }
  }

  /**
   * An active health check of `backend` that started at `startedAt` (balancer
   * clock) passed: ends its ejection, unless `unejectOnPassingCheck` is off or
   * the check began before the ejection (it says nothing about what came after).
   */
  checkPassed(backend: Backend, startedAt: number): void {
    const settings = this.#settings;
    if (settings === false || !settings.unejectOnPassingCheck || !this.#ejected.has(backend)) return;
    const state = this.#states.get(backend);
    if (state !== undefined && startedAt < state.ejectedAt) return;
    this.#restore(backend);
  }

  /** Forgets `backend` (it left the pool). */
  remove(backend: Backend): void {
    const state = this.#states.get(backend);
    if (state?.timer) clearTimeout(state.timer);
    this.#states.delete(backend);
    this.#ejected.delete(backend);
  }

  /** Stops every restore timer. */
  close(): void {
    for (const state of this.#states.values()) if (state.timer) clearTimeout(state.timer);
    this.#states.clear();
    this.#ejected.clear();
    this.#settings = false;
  }

  /** Times `backend` has been ejected (the current multiplier, before decay). */
  ejections(backend: Backend): number {
    return this.#states.get(backend)?.ejections ?? 0;
  }

  #state(backend: Backend): OutlierState {
    let state = this.#states.get(backend);
    if (!state) {
      state = new OutlierState();
      this.#states.set(backend, state);
    }
    return state;
  }

  #eject(backend: Backend, state: OutlierState, settings: ResolvedOutlierDetectionOptions, reason: EjectReason): void {
    state.consecutive5xx = 0;
    state.consecutiveConnect = 0;
    if (this.#ejected.has(backend) || backend.draining) return;
    const members = this.#deps.pool.members.length;
    const ejected = this.#holdingCapacity();
    if (ejected > 0 && (ejected + 1) * 100 > settings.maxEjectionPercent * members) return;
    const now = this.#deps.now();
    if (state.ejections > 0) {
      const decay = Math.floor((now - state.restoredAt) / settings.interval);
      state.ejections = Math.max(0, state.ejections - decay);
    }
    state.ejections++;
    const durationMs = Math.min(
      settings.baseEjectionTime * state.ejections,
      Math.max(settings.maxEjectionTime, settings.baseEjectionTime),
    );
    state.ejectedAt = now;
    this.#ejected.add(backend);
    state.timer = setTimeout(() => this.#restore(backend), durationMs);
    state.timer.unref?.();
    this.#deps.pool.mark(backend, { ejectedUntil: now + durationMs });
    this.#deps.events.emit('backend:ejected', {
      backend: backend.snapshot(),
      reason,
      ejections: state.ejections,
      durationMs,
    });
  }

  /**
   * Ejected backends that count towards `maxEjectionPercent`: those active
   * health checks also took out (a killed backend) remove no capacity
   * ejection has not already lost, so they do not use up the slot a second
   * failing backend needs.
   */
  #holdingCapacity(): number {
    let count = 0;
    for (const backend of this.#ejected) if (!backend.unhealthy) count++;
    return count;
  }

  #restore(backend: Backend): void {
    const state = this.#states.get(backend);
    if (state?.timer) clearTimeout(state.timer);
    if (!this.#ejected.delete(backend)) return;
    const now = this.#deps.now();
    if (state) {
      state.timer = undefined;
      state.restoredAt = now;
      state.consecutive5xx = 0;
      state.consecutiveConnect = 0;
    }
    backend.warmingSince = now;
    this.#deps.pool.mark(backend, { ejectedUntil: 0 });
    this.#deps.events.emit('backend:restored', { backend: backend.snapshot() });
  }
}
