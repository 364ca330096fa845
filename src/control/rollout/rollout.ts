import { randomUUID } from 'node:crypto';
import type { Backend } from '../../core/backend.js';
import { makeError, SwitchyardError } from '../../core/errors.js';
import type { EventName, Events, Listener } from '../../core/events.js';
import { parseOptions } from '../../core/zod.js';
import type { BackendOptions, BackendUpdate } from '../../upstream/pool/options.js';
import { GateWindow } from './gate.js';
import { type ResolvedRolloutOptions, type RolloutOptions, rolloutSchema } from './options.js';
import { type KeptBackend, planRollout, type RolloutPlan, removedAfter } from './plan.js';
import { readdPrevious, removeAdded } from './restore.js';

/** What the rollout manager needs from the balancer. */
export interface RolloutHost {
  readonly events: Events;
  /** The balancer's clock, ms. */
  readonly now: () => number;
  readonly random: () => number;
  /** Every backend in the pool, draining ones included, in pool order. */
  backends(): readonly Backend[];
  get(id: string): Backend | undefined;
  /** Options that re-create `backend` as it is now (id, URL, transport, current weight and limit). */
  optionsOf(backend: Backend): BackendOptions & { id: string };
  /** Adds a backend; `pending`: it takes no traffic until active health checks pass. */
  add(options: BackendOptions & { id: string }, pending: boolean): Backend;
  update(id: string, update: BackendUpdate): void;
  /** Drains (up to `timeout` ms, or the balancer's `drainTimeout`) and removes a backend. */
  remove(id: string, timeout: number | undefined): Promise<unknown>;
  /** True while active health checks are on. */
  healthChecks(): boolean;
  /** Called after every change of the current (or last) rollout's state: shared rollouts publish it. */
  onChange?(view: RolloutView): void;
}

/** What another instance needs to show a rollout and to undo it: its status, the set it replaced, what it added. */
export interface RolloutView {
  readonly status: RolloutStatus;
  /** Options re-creating every backend live at the start. */
  readonly previous: readonly (BackendOptions & { id: string })[];
  /** New backends added so far. */
  readonly added: readonly string[];
  /**
   * Every new backend the plan adds, in order: an instance undoing the rollout
   * removes these (a driver that died may have added one it had not recorded yet).
   */
  readonly planned: readonly string[];
  readonly keep: readonly KeptBackend[];
  /** True once the kept backends' new weights were applied (a rollback restores the old ones). */
  readonly keptApplied: boolean;
}

/** One batch that passed its gate. */
export interface RolloutStep {
  /** 1-based batch number. */
  readonly batch: number;
  readonly batches: number;
  /** New backends that took traffic in this batch. */
  readonly added: readonly string[];
  /** Old backends drained and removed after it. */
  readonly removed: readonly string[];
  /** Attempts the batch's backends finished during the window, failed ones, their ratio. */
  readonly requests: number;
  readonly failures: number;
  readonly errorRate: number;
  /** p99 of the client requests they served, ms (absent without any). */
  readonly p99LatencyMs?: number;
}

/** How a rollout ended. */
export type RolloutOutcome = 'completed' | 'rolled-back' | 'failed' | 'cancelled';

/** What `lb.rollout()` resolves to. */
export interface RolloutResult {
  readonly id: string;
  /**
   * `completed`: only the new set remains. `rolled-back`: a gate failed and
   * the previous set was restored. `failed`: a gate failed with
   * `autoRollback: false` (or the rollback itself failed; see `reason`).
   * `cancelled`: the signal fired (`rolledBack` says whether the previous set
   * was restored).
   */
  readonly status: RolloutOutcome;
  readonly steps: readonly RolloutStep[];
  /** Why it did not complete. */
  readonly reason?: string;
  /** True when the previous set was restored. */
  readonly rolledBack: boolean;
}

/** What a rollout is doing now. */
export type RolloutPhase = 'adding' | 'health' | 'observing' | 'draining' | 'rolling-back' | 'done';

/** The current or last rollout, as `lb.rolloutStatus()` and the admin API show it. */
export interface RolloutStatus {
  readonly id: string;
  /** `running` until it ends; an outcome afterwards (`rolled-back` too after `lb.rollback()`). */
  readonly status: 'running' | RolloutOutcome;
  readonly phase: RolloutPhase;
  /** Batch being worked on (0 before the first). */
  readonly batch: number;
  readonly batches: number;
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly steps: readonly RolloutStep[];
  readonly reason?: string;
  readonly rolledBack: boolean;
}

/** What `lb.rollback()` resolves to. */
export interface RollbackResult {
  /** The rollout that was undone. */
  readonly id: string;
  /** Old backends added back. */
  readonly restored: readonly string[];
  /** The rollout's backends drained and removed. */
  readonly removed: readonly string[];
}

/** A gate that did not pass: the rollout stops. */
class GateFailure extends Error {}

/** The bookkeeping of one rollout. */
interface Run {
  readonly id: string;
  readonly options: ResolvedRolloutOptions;
  readonly plan: RolloutPlan;
  /** Options re-creating every backend live at the start, for a rollback. */
  readonly previous: readonly (BackendOptions & { id: string })[];
  /** New backends added so far. */
  readonly added: string[];
  readonly steps: RolloutStep[];
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  readonly startedAt: number;
  readonly startedDate: Date;
  status: RolloutStatus['status'];
  phase: RolloutPhase;
  batch: number;
  reason: string | undefined;
  rolledBack: boolean;
  keptApplied: boolean;
  finishedDate: Date | undefined;
}

/**
 * Runs rollouts and rollbacks for one balancer, one at a time. See
 * `lb.rollout()` for the procedure.
 *
 * @example
 * ```ts
 * import { RolloutManager } from './rollout.js';
 * declare const host: import('./rollout.js').RolloutHost;
 * declare const next: import('../../index.ts').BackendOptions[];
 * const rollouts = new RolloutManager(host);
 * const { id, done } = rollouts.start({ backends: next, batchSize: 1, interval: '30s' });
 * const result = await done;
 * ```
 */
export class RolloutManager {
  readonly #host: RolloutHost;
  #current: Run | undefined;
  #last: Run | undefined;
  #busy = false;
  #closed = false;

  constructor(host: RolloutHost) {
    this.#host = host;
  }

  /** True while a rollout or a rollback runs. */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Validates `input` and starts a rollout. Throws at once (`ConfigError`,
   * `ERR_ROLLOUT_IN_PROGRESS`, `ERR_CLOSED`); `done` settles when it ends and
   * never rejects.
   */
  start(input: RolloutOptions): { id: string; done: Promise<RolloutResult> } {
    if (this.#closed) throw makeError('ERR_CLOSED', 'the load balancer is closed');
    this.#refuseWhileBusy();
    const options = parseOptions(rolloutSchema, input);
    const host = this.#host;
    const members = host.backends().map((b) => ({
      id: b.id,
      url: b.url.href,
      weight: b.weight,
      maxConnections: b.maxConnections,
      draining: b.draining,
    }));
    const plan = planRollout(members, options.backends, options.batchSize);
    const controller = new AbortController();
    const run: Run = {
      id: randomUUID(),
      options,
      plan,
      previous: host
        .backends()
        .filter((b) => !b.draining)
        .map((b) => host.optionsOf(b)),
      added: [],
      steps: [],
      controller,
      signal: options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal,
      startedAt: host.now(),
      startedDate: new Date(),
      status: 'running',
      phase: 'adding',
      batch: 0,
      reason: undefined,
      rolledBack: false,
      keptApplied: false,
      finishedDate: undefined,
    };
    this.#busy = true;
    this.#current = run;
    this.#last = run;
    this.#changed(run);
    host.events.emit('rollout:started', { id: run.id, from: [...plan.from], to: [...plan.to], batches: plan.batches });
    const done = this.#run(run).finally(() => {
      this.#busy = false;
      this.#current = undefined;
    });
    return { id: run.id, done };
  }

  /** Cancels the running rollout (it rolls back when `autoRollback`); false when none runs. */
  cancel(reason = 'cancel() called'): boolean {
    const run = this.#current;
    if (!run || run.signal.aborted) return false;
    run.controller.abort(new Error(reason));
    return true;
  }

  /**
   * Starts restoring the set that was live before the last rollout. Throws at
   * once `ERR_ROLLOUT_IN_PROGRESS` while one runs, `ERR_NO_ROLLOUT` when there
   * is nothing to restore.
   */
  startRollback(): { id: string; done: Promise<RollbackResult> } {
    if (this.#closed) throw makeError('ERR_CLOSED', 'the load balancer is closed');
    this.#refuseWhileBusy();
    const run = this.#last;
    if (!run) throw makeError('ERR_NO_ROLLOUT', 'no rollout has run: there is nothing to roll back');
    if (run.rolledBack) {
      throw makeError('ERR_NO_ROLLOUT', `rollout ${run.id} was already rolled back: there is nothing to roll back`);
    }
    this.#busy = true;
    const phase = run.phase;
    run.phase = 'rolling-back';
    this.#changed(run);
    const done = (async () => {
      const reason = 'rollback() called';
      const outcome = await this.#restore(run, true);
      run.phase = phase;
      this.#changed(run);
      if (outcome.errors.length > 0) {
        run.reason = `rollback incomplete: ${outcome.errors.join('; ')}`;
        this.#changed(run);
        this.#host.events.emit('rollout:failed', { id: run.id, reason: run.reason });
        throw makeError('ERR_INTERNAL', run.reason);
      }
      run.status = 'rolled-back';
      run.rolledBack = true;
      run.reason = reason;
      run.finishedDate = new Date();
      this.#changed(run);
      this.#host.events.emit('rollout:rolled-back', { id: run.id, reason });
      return Object.freeze({ id: run.id, restored: outcome.restored, removed: outcome.removed });
    })().finally(() => {
      this.#busy = false;
    });
    return { id: run.id, done };
  }

  /** The running rollout, or else the last one; `undefined` before the first. */
  status(): RolloutStatus | undefined {
    const run = this.#last;
    if (!run) return undefined;
    return Object.freeze({
      id: run.id,
      status: run.status,
      phase: run.phase,
      batch: run.batch,
      batches: run.plan.batches,
      from: run.plan.from,
      to: run.plan.to,
      startedAt: run.startedDate.toISOString(),
      ...(run.finishedDate ? { finishedAt: run.finishedDate.toISOString() } : {}),
      steps: [...run.steps],
      ...(run.reason === undefined ? {} : { reason: run.reason }),
      rolledBack: run.rolledBack,
    });
  }

  /** The running or last rollout with what undoing it needs; `undefined` before the first. */
  view(): RolloutView | undefined {
    const run = this.#last;
    const status = this.status();
    if (!run || !status) return undefined;
    return {
      status,
      previous: run.previous,
      added: [...run.added],
      planned: run.plan.add.map((b) => b.id),
      keep: run.plan.keep,
      keptApplied: run.keptApplied,
    };
  }

  /** Another instance rolled back rollout `id` (the last one here): a later `rollback()` has nothing to restore. */
  markRolledBack(id: string, reason: string): void {
    const run = this.#last;
    if (!run || run.id !== id || this.#current === run || run.rolledBack) return;
    run.status = 'rolled-back';
    run.rolledBack = true;
    run.reason = reason;
    run.finishedDate ??= new Date();
  }

  /** The balancer is closing: a running rollout stops where it is (no rollback: the pool is going away). */
  close(): void {
    this.#closed = true;
    this.#current?.controller.abort(new Error('the load balancer closed'));
  }

  #changed(run: Run): void {
    const onChange = this.#host.onChange;
    if (!onChange || run !== this.#last) return;
    const view = this.view();
    if (view) onChange.call(this.#host, view);
  }

  #refuseWhileBusy(): void {
    if (this.#busy) {
      const id = this.#current?.id;
      throw makeError(
        'ERR_ROLLOUT_IN_PROGRESS',
        id ? `rollout ${id} is in progress: wait for it or cancel it` : 'a rollback is in progress',
      );
    }
  }

  async #run(run: Run): Promise<RolloutResult> {
    const { plan, options } = run;
    const host = this.#host;
    try {
      for (let batch = 1; batch <= plan.batches; batch++) {
        run.batch = batch;
        run.phase = 'adding';
        this.#changed(run);
        this.#checkAborted(run);
        const pending = host.healthChecks();
        const entries = plan.add.slice((batch - 1) * plan.batchSize, batch * plan.batchSize);
        const added: Backend[] = [];
        for (const entry of entries) {
          added.push(host.add(entry, pending));
          run.added.push(entry.id);
        }
        if (pending) {
          run.phase = 'health';
          this.#changed(run);
          await this.#healthy(run, added, options.healthTimeout);
        }
        run.phase = 'observing';
        this.#changed(run);
        const watched = run.added.map((id) => host.get(id)).filter((b): b is Backend => b !== undefined);
        const window = new GateWindow(added, watched, options.healthGate, host.random);
        await this.#observe(run, window, added);
        const stats = window.stats();
        run.phase = 'draining';
        this.#changed(run);
        const removed = plan.remove.slice(
          removedAfter(plan.batches, batch - 1, plan.remove.length),
          removedAfter(plan.batches, batch, plan.remove.length),
        );
        await Promise.all(removed.map((id) => this.#removeIfPresent(id, options.drainTimeout)));
        const step: RolloutStep = Object.freeze({
          batch,
          batches: plan.batches,
          added: entries.map((e) => e.id),
          removed,
          requests: stats.requests,
          failures: stats.failures,
          errorRate: stats.errorRate,
          ...(stats.p99LatencyMs === undefined ? {} : { p99LatencyMs: stats.p99LatencyMs }),
        });
        run.steps.push(step);
        this.#changed(run);
        host.events.emit('rollout:step', {
          id: run.id,
          batch,
          batches: plan.batches,
          added: [...step.added],
          removed: [...removed],
        });
        // A cancel that came during the drains still counts: the batch is done, but no further one starts.
        this.#checkAborted(run);
      }
      this.#applyKept(plan.keep, 'next');
      run.keptApplied = true;
      this.#changed(run);
      return this.#finish(run, 'completed', undefined, false);
    } catch (error) {
      return this.#fail(run, error);
    }
  }

  async #fail(run: Run, error: unknown): Promise<RolloutResult> {
    const host = this.#host;
    const cancelled = run.signal.aborted && !(error instanceof GateFailure);
    const reason = cancelled
      ? `cancelled: ${describeReason(run.signal.reason)}`
      : error instanceof GateFailure || error instanceof SwitchyardError
        ? error.message
        : `unexpected error: ${String(error)}`;
    if (!run.options.autoRollback || this.#closed) {
      host.events.emit('rollout:failed', { id: run.id, reason });
      return this.#finish(run, cancelled ? 'cancelled' : 'failed', reason, false);
    }
    run.phase = 'rolling-back';
    this.#changed(run);
    const outcome = await this.#restore(run, false);
    if (outcome.errors.length > 0) {
      const full = `${reason}; rollback incomplete: ${outcome.errors.join('; ')}`;
      host.events.emit('rollout:failed', { id: run.id, reason: full });
      return this.#finish(run, 'failed', full, false);
    }
    host.events.emit('rollout:rolled-back', { id: run.id, reason });
    return this.#finish(run, cancelled ? 'cancelled' : 'rolled-back', reason, true);
  }

  #finish(run: Run, status: RolloutOutcome, reason: string | undefined, rolledBack: boolean): RolloutResult {
    run.status = status;
    run.phase = 'done';
    run.reason = reason;
    run.rolledBack = rolledBack;
    run.finishedDate = new Date();
    this.#changed(run);
    if (status === 'completed') {
      this.#host.events.emit('rollout:completed', { id: run.id, durationMs: this.#host.now() - run.startedAt });
    }
    return Object.freeze({
      id: run.id,
      status,
      steps: Object.freeze([...run.steps]),
      ...(reason === undefined ? {} : { reason }),
      rolledBack,
    });
  }

  /**
   * Puts the set live before `run` back: re-adds the old backends that are
   * gone, restores kept backends' weights, drains and removes the backends
   * the rollout added. After a gate failure or cancellation the old backends
   * served moments ago, so they take traffic at once and the new ones leave
   * at once; for `rollback()` (`checkFirst`), with active health checks, the
   * re-added ones must pass them (up to `healthTimeout`) before the new ones
   * are drained, so the pool is never left without a working backend.
   */
  async #restore(run: Run, checkFirst: boolean): Promise<{ restored: string[]; removed: string[]; errors: string[] }> {
    const host = this.#host;
    const errors: string[] = [];
    const pending = checkFirst && host.healthChecks();
    const restored = readdPrevious(host, run.previous, pending, errors);
    if (pending && restored.length > 0) {
      // Best effort: a backend that stays down is the health checker's business from here on.
      await this.#healthy(run, restored, run.options.healthTimeout, false).catch(() => {});
    }
    if (run.keptApplied) {
      this.#applyKept(run.plan.keep, 'previous');
      run.keptApplied = false;
      this.#changed(run);
    }
    const removed = await removeAdded(host, run.added, run.previous, run.options.drainTimeout, errors);
    return { restored: restored.map((b) => b.id), removed, errors };
  }

  #applyKept(keep: readonly KeptBackend[], which: 'next' | 'previous'): void {
    for (const kept of keep) {
      const backend = this.#host.get(kept.id);
      const target = kept[which];
      if (!backend || (backend.weight === target.weight && backend.maxConnections === target.maxConnections)) continue;
      this.#host.update(kept.id, { weight: target.weight, maxConnections: target.maxConnections });
    }
  }

  async #removeIfPresent(id: string, timeout: number | undefined): Promise<void> {
    const backend = this.#host.get(id);
    if (!backend) return;
    await this.#host.remove(id, timeout);
  }

  #checkAborted(run: Run): void {
    if (run.signal.aborted) throw run.signal.reason ?? new Error('cancelled');
  }

  /** Resolves once none of `backends` is unhealthy; rejects on timeout, cancellation, or removal. */
  #healthy(run: Run, backends: readonly Backend[], timeout: number, cancellable = true): Promise<void> {
    const ready = () => backends.every((b) => !b.unhealthy);
    const check = (): GateResult => {
      const gone = backends.find((b) => b.draining);
      if (gone) return { fail: `backend ${gone.id} was removed during the rollout` };
      return ready() ? { pass: true } : undefined;
    };
    return this.#wait(run, cancellable, timeout, ['backend:healthy', 'backend:draining'], check, () => {
      const waiting = backends.filter((b) => b.unhealthy).map((b) => b.id);
      return `backends ${waiting.join(', ')} did not pass health checks within ${timeout} ms`;
    });
  }

  /**
   * Resolves when the window passes; rejects with the reason it failed, or on
   * cancellation. With `lowTraffic: 'wait'`, a window that ends short of
   * `minRequests` is extended (up to `trafficWait`) until they have come.
   */
  async #observe(run: Run, window: GateWindow, batch: readonly Backend[]): Promise<void> {
    const ids = new Set(batch.map((b) => b.id));
    const onRequest: Listener<'request'> = (event) => {
      if (event.backend !== undefined && ids.has(event.backend)) window.latency(event.durationMs);
    };
    const onCheck: Listener<'health:check'> = (event) => window.check(event.backend, event.ok, event.reason);
    window.healthChecks(this.#host.healthChecks());
    const gate = run.options.healthGate;
    const verdict = (final: boolean): GateResult => {
      const result = window.verdict(final);
      if (result.state === 'pass') return { pass: true };
      if (result.state === 'fail') return { fail: result.reason };
      return undefined;
    };
    const watched: EventName[] = [
      'request',
      'upstream:error',
      'backend:unhealthy',
      'backend:ejected',
      'breaker:open',
      'backend:draining',
    ];
    this.#host.events.on('health:check', onCheck);
    try {
      let short = false;
      await this.#wait(
        run,
        true,
        run.options.interval,
        watched,
        () => verdict(false),
        () => {
          const result = window.verdict(true);
          if (result.state !== 'fail') return undefined;
          if (result.lowTraffic === true && gate.lowTraffic === 'wait') {
            short = true;
            return undefined;
          }
          return result.reason;
        },
        onRequest,
      );
      if (!short) return;
      // Extended window: passes as soon as enough attempts came and the full verdict holds.
      await this.#wait(
        run,
        true,
        gate.trafficWait,
        watched,
        () => {
          const early = verdict(false);
          if (early !== undefined) return early;
          return window.stats().requests >= gate.minRequests ? verdict(true) : undefined;
        },
        () => {
          const result = verdict(true);
          if (result && 'fail' in result) return `${result.fail} (after waiting ${gate.trafficWait} ms more)`;
          return undefined;
        },
        onRequest,
      );
    } finally {
      this.#host.events.off('health:check', onCheck);
    }
  }

  /**
   * Waits until `check` decides (re-run on each of `events`) or `timeout`
   * passes, when `onTimeout` gives the failure reason (or `undefined`: pass).
   */
  #wait(
    run: Run,
    cancellable: boolean,
    timeout: number,
    events: readonly EventName[],
    check: () => GateResult,
    onTimeout: () => string | undefined,
    onRequest?: Listener<'request'>,
  ): Promise<void> {
    const host = this.#host;
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const stop = new AbortController();
      const subscription = { signal: stop.signal };
      const listener = () => settle(check());
      const requestListener: Listener<'request'> = (event) => {
        onRequest?.(event);
        listener();
      };
      const onAbort = () => {
        cleanup();
        reject(run.signal.reason ?? new Error('cancelled'));
      };
      function cleanup() {
        clearTimeout(timer);
        stop.abort();
        run.signal.removeEventListener('abort', onAbort);
      }
      function settle(result: GateResult) {
        if (result === undefined) return;
        cleanup();
        if ('fail' in result) reject(new GateFailure(result.fail));
        else resolve();
      }
      if (cancellable && run.signal.aborted) {
        onAbort();
        return;
      }
      const first = check();
      if (first !== undefined && 'fail' in first) {
        reject(new GateFailure(first.fail));
        return;
      }
      // A health wait that is already satisfied is done; an observation window always runs its course.
      if (first !== undefined && onRequest === undefined) {
        resolve();
        return;
      }
      for (const name of events) {
        if (name === 'request') host.events.on('request', requestListener, subscription);
        else host.events.on(name, listener, subscription);
      }
      if (cancellable) run.signal.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => {
        const reason = onTimeout();
        cleanup();
        if (reason === undefined) resolve();
        else reject(new GateFailure(reason));
      }, timeout);
    });
  }
}

/** `undefined` while undecided. */
type GateResult = { pass: true } | { fail: string } | undefined;

function describeReason(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  if (reason === undefined) return 'aborted';
  return String(reason);
}
