import { EventEmitter } from 'node:events';
import type CircuitBreaker from 'opossum';
import type { Backend } from '../../core/backend.js';
import type { Next } from '../../core/compose.js';
import type { Context } from '../../core/context.js';
import type { Events } from '../../core/events.js';
import { type BodyOutcome, bodyFailure, classifyFailure } from '../../core/fault.js';
import { streamedBody, watchBody } from '../../core/response-body.js';
import { UpstreamError } from '../../core/upstream-error.js';
import { statusMatcher } from '../../upstream/health/status-set.js';
import type { Pool } from '../../upstream/pool/pool.js';
import { opossum } from '../../vendor/dependencies.js';
import { canReplay, replayFire, replaySettle } from '../../vendor/opossum.js';
import type { ResolvedCircuitBreakerOptions } from './options.js';

/** State of one backend's breaker. */
export type BreakerState = 'closed' | 'open' | 'half-open';

type IsFailure = (status: number) => boolean;
type Attempt = (ctx: Context, next: Next, isFailure: IsFailure, onHeaders: () => void) => Promise<void>;

/**
 * Thrown inside the breaker's action when the answer's status counts as a
 * failure, so opossum counts it; caught again right outside. One shared
 * instance: nothing is allocated per failed request.
 */
const FAILURE_STATUS = new Error('the response status counts as a breaker failure');

/**
 * The action each breaker guards: the rest of the attempt (forward), judged by
 * its status and then by its body. `onHeaders` lets the pipeline go on once
 * headers are in while opossum waits for the body: a backend that breaks off
 * mid-body counts as failed.
 */
async function attempt(ctx: Context, next: Next, isFailure: IsFailure, onHeaders: () => void): Promise<void> {
  await next();
  const response = ctx.response;
  if (response === undefined) return;
  if (isFailure(response.judgedStatus ?? response.status)) throw FAILURE_STATUS;
  const body = streamedBody(response);
  if (body === undefined) return;
  const backend = ctx.backend?.id ?? '';
  onHeaders();
  await new Promise<void>((resolve, reject) => {
    watchBody(body, (outcome, error) => {
      if (outcome === 'failed') reject(bodyFailure(backend, error));
      // A gRPC status in the trailers (set before the body's end) is judged like a trailers-only one.
      else if (outcome === 'complete' && isFailure(response.judgedStatus ?? response.status)) reject(FAILURE_STATUS);
      else resolve();
    });
  });
}

/** Whether an attempt's error counts against the backend (see `classifyFailure`). */
function isUpstreamFailure(error: unknown): boolean {
  return classifyFailure(error) === 'backend';
}

/** opossum's errorFilter: `true` means "not a failure" (opossum then counts a success). */
function notAFailure(error: unknown): boolean {
  return error !== FAILURE_STATUS && !isUpstreamFailure(error);
}

/**
 * An opossum breaker whose transitions out of half-open are switchyard's to
 * make. opossum admits one trial call when half-open and closes on its first
 * success; switchyard instead admits `halfOpenProbes` probes itself and needs
 * `successThreshold` successes. Overriding `open`/`close` keeps opossum from
 * acting on a late result of a request sent before the breaker opened, which
 * would otherwise close the breaker behind the probes' back.
 */
interface GatedBreaker extends CircuitBreaker<Parameters<Attempt>, void> {
  /** True while switchyard itself opens or closes the breaker. */
  gate: boolean;
}

type GatedBreakerClass = new (action: Attempt, options: CircuitBreaker.Options<Parameters<Attempt>>) => GatedBreaker;
let gatedBreakerClass: GatedBreakerClass | undefined;

/** The class, made when the first breaker is: opossum loads only when breakers are on. */
function gatedBreaker(): GatedBreakerClass {
  gatedBreakerClass ??= class extends opossum()<Parameters<Attempt>, void> implements GatedBreaker {
    gate = false;

    override open(): void {
      // From closed, opossum opens on its own (the threshold); from half-open only probes decide.
      if (this.gate || !this.halfOpen) super.open();
    }

    override close(): void {
      if (this.gate) super.close();
    }
  };
  return gatedBreakerClass;
}

/** What the breakers need from the balancer. */
export interface BreakerDeps {
  readonly pool: Pool;
  readonly events: Events;
  /** Balancer clock: a backend whose breaker closes again restarts slow start. */
  readonly now?: () => number;
}

/**
 * One backend's circuit breaker: opossum owns the rolling window, the error
 * threshold, the volume threshold and the reset timer; this class admits
 * half-open probes and turns states into backend eligibility and events.
 *
 * The opossum breaker (its window, listeners and bucket controller) is made
 * on the backend's first request: a backend that never had one is closed
 * with an empty window, which is all a fresh opossum breaker would say, and
 * costs a few fields instead of ~8 KiB of heap.
 */
export class BackendBreaker {
  readonly backend: Backend;
  /** The opossum breaker, once the backend had a request (see {@link BackendBreaker.#opossum}). */
  #breaker: GatedBreaker | undefined;
  #state: BreakerState = 'closed';
  #settings: ResolvedCircuitBreakerOptions;
  #isFailure: IsFailure;
  readonly #deps: BreakerDeps;
  /** Probes in flight and successful probes in the current half-open period. */
  #probes = 0;
  #successes = 0;
  /** Bumped on every transition, so a probe from an earlier half-open period is ignored. */
  #period = 0;
  /** Set while a breaker is rebuilt with new settings: transitions are not news. */
  #quiet = false;
  /** The shared bucket clock, for rebuilding the opossum breaker. */
  #clock: EventEmitter;
  /** When the breaker last opened (balancer clock); never, without a clock. */
  #openedAt = Number.POSITIVE_INFINITY;
  /** This breaker's bucket controller and how to unhook it from the shared clock, with the opossum breaker. */
  #rotation: { controller: EventEmitter; detach: () => void } | undefined;
  /** Shut down: a breaker made after this is shut down at once. */
  #shut = false;

  /**
   * @param isFailure the judgement of `settings.failureStatuses` (shared by a
   *   balancer's breakers); made from the settings when not given
   */
  constructor(
    backend: Backend,
    settings: ResolvedCircuitBreakerOptions,
    clock: EventEmitter,
    deps: BreakerDeps,
    isFailure: IsFailure = statusMatcher(settings.failureStatuses),
  ) {
    this.backend = backend;
    this.#deps = deps;
    this.#settings = settings;
    this.#isFailure = isFailure;
    this.#clock = clock;
  }

  /** True once the opossum breaker exists (the backend had a request, or its breaker left closed). */
  get made(): boolean {
    return this.#breaker !== undefined;
  }

  /** The opossum breaker, made now (closed, a fresh window) when the backend never needed it. */
  #opossum(): GatedBreaker {
    let breaker = this.#breaker;
    if (breaker === undefined) {
      breaker = this.#create(this.#settings, this.#clock);
      this.#breaker = breaker;
      if (this.#shut) this.#drop();
    }
    return breaker;
  }

  /** Shuts the opossum breaker down and unhooks it from the clock; the next {@link #opossum} makes a fresh one. */
  #drop(): void {
    this.#breaker?.shutdown();
    this.#rotation?.detach();
    this.#rotation = undefined;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Half-open probes in flight. */
  get probes(): number {
    return this.#probes;
  }

  /** A fresh opossum breaker (a fresh window), closed, or half-open with `halfOpen`. */
  #create(settings: ResolvedCircuitBreakerOptions, clock: EventEmitter, halfOpen = false): GatedBreaker {
    // A bucket controller of its own, fed by the shared clock: emitting 'rotate' on it
    // (opossum's public `rotateBucketController`) is how this breaker alone clears its window.
    this.#rotation?.detach();
    const rotation = new EventEmitter();
    const tick = () => rotation.emit('rotate');
    clock.on('rotate', tick);
    this.#rotation = { controller: rotation, detach: () => clock.off('rotate', tick) };
    const breaker = new (gatedBreaker())(attempt, {
      // opossum's documented way to start in a given state (meant for restoring one).
      ...(halfOpen ? { state: { closed: false, halfOpen: true } } : {}),
      name: this.backend.id,
      // The forwarder owns timeouts; opossum's would add a timer per request.
      timeout: false,
      errorThresholdPercentage: settings.errorThresholdPercentage,
      volumeThreshold: settings.volumeThreshold,
      resetTimeout: settings.resetTimeout,
      rollingCountTimeout: settings.rollingCountTimeout,
      rollingCountBuckets: settings.rollingCountBuckets,
      // Percentiles sort every latency in the window on each failure; snapshots add a timer per breaker.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      // One bucket timer for all breakers instead of one each.
      rotateBucketController: rotation,
      errorFilter: notAFailure,
    } as CircuitBreaker.Options<Parameters<Attempt>>);
    breaker.on('open', () => this.#onOpen());
    breaker.on('halfOpen', () => this.#onHalfOpen());
    breaker.on('close', () => this.#onClose());
    return breaker;
  }

  /** Runs the rest of the attempt through the breaker, or rejects with `ERR_BREAKER_OPEN`. */
  run(ctx: Context, next: Next): Promise<void> {
    if (this.#state === 'closed') {
      const breaker = this.#opossum();
      return canReplay(breaker) ? this.#direct(breaker, ctx, next) : this.#fire(breaker, ctx, next);
    }
    if (this.#state === 'half-open') return this.#probe(ctx, next);
    return Promise.reject(this.#rejection());
  }

  /**
   * What `#fire` does for a closed breaker, without opossum's promises per
   * call: opossum's accounting replayed by `vendor/opossum.ts` (`fire` when
   * the attempt starts; `success`, or `failure` and the threshold check, when
   * it is over). Its `fire()` adds nothing else here: no timeout, cache,
   * coalescing, fallback or capacity is configured. Settles as `#fire` does,
   * at response headers; a failure is counted before the pipeline sees it.
   */
  #direct(breaker: GatedBreaker, ctx: Context, next: Next): Promise<void> {
    replayFire(breaker);
    const started = Date.now();
    let attempt: Promise<void>;
    try {
      attempt = next();
    } catch (error) {
      attempt = Promise.reject(error);
    }
    return attempt.then(
      () => {
        const response = ctx.response;
        if (response === undefined) return this.#settle(breaker, undefined, started);
        if (this.#isFailure(response.judgedStatus ?? response.status))
          return this.#settle(breaker, FAILURE_STATUS, started);
        const body = streamedBody(response);
        if (body === undefined) return this.#settle(breaker, undefined, started);
        const backend = ctx.backend?.id ?? '';
        watchBody(body, (outcome, error) => {
          if (outcome === 'failed') this.#settle(breaker, bodyFailure(backend, error), started);
          // A gRPC status in the trailers (set before the body's end) is judged like a trailers-only one.
          else if (outcome === 'complete' && this.#isFailure(response.judgedStatus ?? response.status))
            this.#settle(breaker, FAILURE_STATUS, started);
          else this.#settle(breaker, undefined, started);
        });
      },
      (error: unknown) => {
        this.#settle(breaker, error, started);
        throw error;
      },
    );
  }

  /** Counts a finished call as opossum would, its errorFilter being {@link notAFailure}. */
  #settle(breaker: GatedBreaker, error: unknown, started: number): void {
    const failed = error !== undefined && !notAFailure(error);
    replaySettle(breaker, error, failed, started, this.#settings.errorThresholdPercentage);
  }

  /** Fires the breaker; settles at response headers, while opossum's call lasts until the body is over. */
  #fire(breaker: GatedBreaker, ctx: Context, next: Next): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let headers = false;
      const onHeaders = () => {
        headers = true;
        resolve();
      };
      breaker.fire(ctx, next, this.#isFailure, onHeaders).then(
        () => resolve(),
        (error: unknown) => {
          // After the headers, a failure is opossum's to count, not the pipeline's to see.
          if (headers || error === FAILURE_STATUS) resolve();
          else reject(error);
        },
      );
    });
  }

  async #probe(ctx: Context, next: Next): Promise<void> {
    if (this.#probes >= this.#settings.halfOpenProbes) throw this.#rejection();
    const period = this.#period;
    this.#probes++;
    if (this.#probes >= this.#settings.halfOpenProbes) this.#setEligible(false);
    let outcome: boolean | undefined;
    try {
      await next();
      const response = ctx.response;
      outcome = response === undefined || !this.#isFailure(response.judgedStatus ?? response.status);
      const body = outcome && response !== undefined ? streamedBody(response) : undefined;
      if (body !== undefined) {
        // The probe succeeds only once its body is complete; a client that leaves proves nothing.
        outcome = undefined;
        const done = (result: BodyOutcome) => {
          if (period !== this.#period) return;
          // Complete, the probe is judged again: a gRPC call may report its failure in the trailers.
          const failedStatus =
            result === 'complete' &&
            response !== undefined &&
            this.#isFailure(response.judgedStatus ?? response.status);
          this.#probeDone(result === 'complete' ? !failedStatus : result === 'failed' ? false : undefined);
        };
        watchBody(body, done);
        return;
      }
    } catch (error) {
      if (period === this.#period) this.#probeDone(isUpstreamFailure(error) ? false : undefined);
      throw error;
    }
    if (period === this.#period) this.#probeDone(outcome);
  }

  /** `outcome`: true for a success, false for a failure, undefined when it proves nothing (client left). */
  #probeDone(outcome: boolean | undefined): void {
    this.#probes--;
    if (outcome === false) {
      this.#transition('open');
      return;
    }
    if (outcome === true && ++this.#successes >= this.#settings.successThreshold) {
      this.#transition('close');
      return;
    }
    // A slot is free again: the next request may probe.
    this.#setEligible(true);
  }

  #transition(to: 'open' | 'close'): void {
    const breaker = this.#opossum();
    breaker.gate = true;
    try {
      if (to === 'open') breaker.open();
      else breaker.close();
    } finally {
      breaker.gate = false;
    }
  }

  #rejection(): UpstreamError {
    const id = this.backend.id;
    return new UpstreamError(
      'ERR_BREAKER_OPEN',
      `the circuit breaker of backend ${id} is open`,
      id,
      'connect-failure',
      false,
    );
  }

  #setEligible(eligible: boolean): void {
    if (this.backend.breakerOpen !== eligible) return;
    this.#deps.pool.mark(this.backend, { breakerOpen: !eligible });
  }

  /**
   * An active health check that started at `startedAt` (balancer clock)
   * passed: an open breaker stops waiting for `resetTimeout` and goes
   * half-open now, so its probes decide (`halfOpenOnPassingCheck`), as
   * HAProxy brings a server that `on-error mark-down` took out back on its
   * checks. A check sent before the breaker opened proves nothing.
   */
  checkPassed(startedAt: number): void {
    if (this.#state !== 'open' || !this.#settings.halfOpenOnPassingCheck || startedAt < this.#openedAt) return;
    this.#breaker?.shutdown();
    this.#breaker = this.#create(this.#settings, this.#clock, true);
    this.#onHalfOpen();
  }

  #onOpen(): void {
    this.#state = 'open';
    this.#openedAt = this.#deps.now?.() ?? Number.POSITIVE_INFINITY;
    this.#period++;
    this.#probes = 0;
    this.#setEligible(false);
    if (!this.#quiet) this.#deps.events.emit('breaker:open', { backend: this.backend.id });
  }

  #onHalfOpen(): void {
    this.#state = 'half-open';
    this.#period++;
    this.#probes = 0;
    this.#successes = 0;
    this.#setEligible(true);
    this.#deps.events.emit('breaker:half-open', { backend: this.backend.id });
  }

  #onClose(): void {
    this.#state = 'closed';
    this.#period++;
    this.#probes = 0;
    // Start the window afresh (as Hystrix does): the failures that opened the
    // breaker would otherwise open it again on the first new failure.
    const controller = this.#rotation?.controller;
    if (controller) for (let i = 0; i < this.#settings.rollingCountBuckets; i++) controller.emit('rotate');
    this.#setEligible(true);
    if (this.#quiet) return;
    // Back from open: ramp it up again like any recovered backend (slow start, when configured).
    if (this.#deps.now) this.backend.warmingSince = this.#deps.now();
    this.#deps.events.emit('breaker:close', { backend: this.backend.id });
  }

  /**
   * Takes new settings: a fresh breaker (the window restarts). A breaker that
   * was open or half-open stays open and waits a full `resetTimeout` again.
   */
  reconfigure(
    settings: ResolvedCircuitBreakerOptions,
    clock: EventEmitter,
    isFailure: IsFailure = statusMatcher(settings.failureStatuses),
  ): void {
    const previous = this.#state;
    this.#drop();
    // Closed, the fresh breaker waits for the next request like a new backend's.
    this.#breaker = undefined;
    this.#settings = settings;
    this.#isFailure = isFailure;
    this.#state = 'closed';
    this.#period++;
    this.#probes = 0;
    this.#clock = clock;
    if (previous !== 'closed') {
      // Still open is no news; half-open to open is.
      this.#quiet = previous === 'open';
      this.#transition('open');
      this.#quiet = false;
    }
  }

  /**
   * Releases opossum's timers and listeners; the backend is eligible again.
   * With `announce`, a breaker that was not closed reports `breaker:close`.
   */
  shutdown(announce: boolean): void {
    this.#shut = true;
    this.#drop();
    this.#period++;
    const previous = this.#state;
    this.#state = 'closed';
    this.#setEligible(true);
    if (announce && previous !== 'closed') this.#deps.events.emit('breaker:close', { backend: this.backend.id });
  }
}

/**
 * The balancer's per-backend circuit breakers, made and dropped with the
 * backends, sharing one bucket timer and one status judgement (each
 * backend's opossum breaker is made on its first request).
 *
 * @example
 * ```ts
 * import { Breakers } from './breakers.js';
 * import { circuitBreakerSchema } from './options.js';
 * const breakers = new Breakers({ pool, events });
 * breakers.configure(circuitBreakerSchema.parse({ resetTimeout: '10s' }));
 * for (const backend of pool.all()) breakers.add(backend);
 * ```
 */
export class Breakers {
  readonly #deps: BreakerDeps;
  readonly #byBackend = new Map<Backend, BackendBreaker>();
  #settings: ResolvedCircuitBreakerOptions | false = false;
  /** The judgement of the settings' `failureStatuses`, one for every breaker. */
  #isFailure: IsFailure | undefined;
  #clock: EventEmitter | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(deps: BreakerDeps) {
    this.#deps = deps;
  }

  get enabled(): boolean {
    return this.#settings !== false;
  }

  /** Applies new settings to every breaker, or shuts them all down (`false`). */
  configure(settings: ResolvedCircuitBreakerOptions | false): void {
    const previous = this.#settings;
    this.#settings = settings;
    if (settings === false) {
      for (const breaker of this.#byBackend.values()) breaker.shutdown(true);
      this.#byBackend.clear();
      this.#stopClock();
      return;
    }
    if (
      previous === false ||
      previous.rollingCountTimeout !== settings.rollingCountTimeout ||
      previous.rollingCountBuckets !== settings.rollingCountBuckets
    ) {
      this.#stopClock();
    }
    // opossum loads now, with breakers on, not on some backend's first request.
    gatedBreaker();
    const clock = this.#startClock(settings);
    this.#isFailure = statusMatcher(settings.failureStatuses);
    for (const breaker of this.#byBackend.values()) breaker.reconfigure(settings, clock, this.#isFailure);
    for (const backend of this.#deps.pool.all()) this.add(backend);
  }

  /** Gives `backend` a breaker (a no-op when breakers are off or it has one). */
  add(backend: Backend): void {
    const settings = this.#settings;
    if (settings === false || this.#closed || this.#byBackend.has(backend)) return;
    this.#isFailure ??= statusMatcher(settings.failureStatuses);
    this.#byBackend.set(
      backend,
      new BackendBreaker(backend, settings, this.#startClock(settings), this.#deps, this.#isFailure),
    );
  }

  /** Drops `backend`'s breaker. */
  remove(backend: Backend): void {
    const breaker = this.#byBackend.get(backend);
    if (!breaker) return;
    this.#byBackend.delete(backend);
    breaker.shutdown(false);
  }

  /** An active health check of `backend` that started at `startedAt` passed (see {@link BackendBreaker.checkPassed}). */
  checkPassed(backend: Backend, startedAt: number): void {
    this.#byBackend.get(backend)?.checkPassed(startedAt);
  }

  /** The breaker of `backend`, if it has one. */
  get(backend: Backend): BackendBreaker | undefined {
    return this.#byBackend.get(backend);
  }

  close(): void {
    this.#closed = true;
    for (const breaker of this.#byBackend.values()) breaker.shutdown(false);
    this.#byBackend.clear();
    this.#stopClock();
  }

  #startClock(settings: ResolvedCircuitBreakerOptions): EventEmitter {
    if (this.#clock) return this.#clock;
    const clock = new EventEmitter();
    clock.setMaxListeners(0);
    this.#timer = setInterval(() => clock.emit('rotate'), settings.rollingCountTimeout / settings.rollingCountBuckets);
    this.#timer.unref?.();
    this.#clock = clock;
    return clock;
  }

  #stopClock(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clock = undefined;
  }
}
