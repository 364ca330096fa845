import type { Agent } from 'node:http';
import type { Pool as UndiciPool } from 'undici';
import type { Candidate } from './strategy.js';

/** Where a backend stands, as shown in snapshots and metrics. */
export type BackendStatus = 'healthy' | 'unhealthy' | 'ejected' | 'open' | 'draining';

/**
 * A read-only picture of a backend at one moment, with its live stats.
 * Returned by `lb.backends()` and carried by backend events.
 */
export interface BackendSnapshot {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  /** Weight after slow start. */
  readonly effectiveWeight: number;
  /** Concurrent request limit; `Infinity` when unlimited. */
  readonly maxConnections: number;
  readonly status: BackendStatus;
  /** Requests in flight now. */
  readonly active: number;
  /** Requests sent since the backend joined. */
  readonly requests: number;
  /** Attempts that failed (connect failure, reset, timeout, 5xx). */
  readonly failures: number;
  /** Exponentially weighted moving average of time to response headers, ms (0 before the first response). */
  readonly latencyMs: number;
}

const EWMA_ALPHA = 0.3;

/** A change of a backend's eligibility: each field given is set. */
export interface EligibilityChange {
  /** Active health checks say it is down. */
  readonly unhealthy?: boolean;
  /** Ejected until this balancer-clock time (ms); 0 lifts the ejection. */
  readonly ejectedUntil?: number;
  /** Its circuit breaker is open. */
  readonly breakerOpen?: boolean;
  /** Being removed. */
  readonly draining?: boolean;
  /** A quorum of balancer instances sees it down (shared health view). */
  readonly clusterDown?: boolean;
}

let writer: (backend: Backend, change: EligibilityChange) => void;

/**
 * Writes a backend's eligibility flags. Only the pool calls this (`Pool.mark`,
 * which also refreshes the views derived from them); test/architecture.test.ts
 * keeps it that way.
 *
 * @internal
 */
export function writeEligibility(backend: Backend, change: EligibilityChange): void {
  writer(backend, change);
}

/** A concurrency limit learnt at run time (`adaptiveConcurrency`), fed one sample per exchange. */
export interface ConcurrencyLimit {
  /** Current limit, a whole number >= 1. */
  readonly limit: number;
  /** An exchange finished after `rttMs` with `inflight` requests in flight; `dropped` when it timed out. */
  sample(rttMs: number, inflight: number, dropped: boolean): void;
}

/**
 * One upstream server and its live state. Owned by the pool; middleware reads
 * and updates its counters. Implements the strategies' `Candidate` view.
 */
export class Backend implements Candidate {
  readonly id: string;
  readonly url: URL;
  /** `url` without a trailing slash, the form handed to the forwarder. */
  readonly target: URL;
  weight: number;
  maxConnections: number;
  /** Keep-alive agent owned by this backend; replaced only on removal. */
  agent: Agent;
  #dispatcher: UndiciPool | undefined;
  #makeDispatcher: (() => UndiciPool | undefined) | undefined;

  active = 0;
  requests = 0;
  failures = 0;
  latencyMs = 0;

  // Eligibility: read by anyone, written only by the pool (through writeEligibility), which keeps its views current.
  #unhealthy = false;
  #ejectedUntil = 0;
  #breakerOpen = false;
  #draining = false;
  #clusterDown = false;
  /** Balancer clock time it joined or last recovered, for slow start. */
  warmingSince = 0;

  /** Called by the pool when `active` drops to zero while draining. */
  onIdle: (() => void) | undefined;
  /** Called after every release (the wait queue hands the freed slot on). */
  onRelease: ((backend: Backend) => void) | undefined;
  /** Adaptive concurrency limit, when `adaptiveConcurrency` is on; caps {@link capacity}. */
  limiter: ConcurrencyLimit | undefined;
  /**
   * Most streams the backend's HTTP/2 session takes at once (its
   * `SETTINGS_MAX_CONCURRENT_STREAMS`); Infinity for HTTP/1.1 backends.
   */
  streamLimit = Number.POSITIVE_INFINITY;

  #effectiveWeight: (backend: Backend) => number;

  constructor(init: {
    id: string;
    url: URL;
    weight: number;
    maxConnections: number;
    agent: Agent;
    /** The undici pool, or how to make it: made on first use, so an idle backend holds none (about 18 KiB each). */
    dispatcher?: UndiciPool | (() => UndiciPool | undefined) | undefined;
    effectiveWeight?: (backend: Backend) => number;
  }) {
    this.id = init.id;
    this.url = init.url;
    this.target = init.url;
    this.weight = init.weight;
    this.maxConnections = init.maxConnections;
    this.agent = init.agent;
    if (typeof init.dispatcher === 'function') this.#makeDispatcher = init.dispatcher;
    else this.#dispatcher = init.dispatcher;
    this.#effectiveWeight = init.effectiveWeight ?? ((b) => b.weight);
  }

  /**
   * Connection pool of the undici forwarder, made on first use; unset with
   * `forwarder: 'http-proxy-3'` and for HTTP/2 backends.
   */
  get dispatcher(): UndiciPool | undefined {
    const make = this.#makeDispatcher;
    if (make !== undefined) {
      this.#makeDispatcher = undefined;
      this.#dispatcher = make();
    }
    return this.#dispatcher;
  }

  /** Destroys the undici pool if one was made (none is made afterwards); resolves when its sockets are gone. */
  closeDispatcher(): Promise<void> {
    this.#makeDispatcher = undefined;
    return this.#dispatcher ? this.#dispatcher.destroy().catch(() => {}) : Promise.resolve();
  }

  /** Open upstream connections: `busy` carrying a request, `idle` kept alive (agent and undici pool together). */
  connections(): { busy: number; idle: number } {
    let busy = countSockets(this.agent.sockets);
    let idle = countSockets(this.agent.freeSockets);
    // The pool as it is: asking for connections never makes one.
    const stats = this.#dispatcher?.stats;
    if (stats) {
      busy += stats.connected - stats.free;
      idle += stats.free;
    }
    return { busy, idle };
  }

  /** Active health checks say it is down. */
  get unhealthy(): boolean {
    return this.#unhealthy;
  }

  /** Outlier detection ejected it until this time (balancer clock, ms); 0 when not ejected. */
  get ejectedUntil(): number {
    return this.#ejectedUntil;
  }

  /** Its circuit breaker is open. */
  get breakerOpen(): boolean {
    return this.#breakerOpen;
  }

  /** Being removed: no new requests. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * A quorum of balancer instances sees it down (shared health view,
   * `cluster.health`); shown as `unhealthy`. Never set from this instance's
   * own evidence alone.
   */
  get clusterDown(): boolean {
    return this.#clusterDown;
  }

  static {
    writer = (backend, change) => {
      if (change.unhealthy !== undefined) backend.#unhealthy = change.unhealthy;
      if (change.ejectedUntil !== undefined) backend.#ejectedUntil = change.ejectedUntil;
      if (change.breakerOpen !== undefined) backend.#breakerOpen = change.breakerOpen;
      if (change.draining !== undefined) backend.#draining = change.draining;
      if (change.clusterDown !== undefined) backend.#clusterDown = change.clusterDown;
    };
  }

  get effectiveWeight(): number {
    return this.#effectiveWeight(this);
  }

  /** Most requests in flight at once: `maxConnections`, lowered by the adaptive limit and the HTTP/2 stream limit. */
  get capacity(): number {
    const limiter = this.limiter;
    const limit = Math.min(this.streamLimit, this.maxConnections);
    return limiter === undefined ? limit : Math.min(limit, limiter.limit);
  }

  /** Healthy, not ejected, breaker closed or half-open, not draining. Ignores `maxConnections`. */
  isAvailable(now: number): boolean {
    return !this.draining && !this.unhealthy && !this.#clusterDown && !this.breakerOpen && this.ejectedUntil <= now;
  }

  get status(): BackendStatus {
    if (this.draining) return 'draining';
    if (this.unhealthy || this.#clusterDown) return 'unhealthy';
    if (this.breakerOpen) return 'open';
    if (this.ejectedUntil > 0) return 'ejected';
    return 'healthy';
  }

  /** An attempt started: it counts as in flight until {@link release}. */
  begin(): void {
    this.active++;
    this.requests++;
  }

  /** The attempt's outcome is known: headers arrived (`latencyMs` >= 0) or it failed. */
  record(ok: boolean, latencyMs: number): void {
    if (!ok) this.failures++;
    if (latencyMs >= 0) {
      this.latencyMs = this.latencyMs === 0 ? latencyMs : this.latencyMs + EWMA_ALPHA * (latencyMs - this.latencyMs);
      this.limiter?.sample(latencyMs, this.active, false);
    }
  }

  /** The attempt is over: response body done, aborted or failed. */
  release(): void {
    this.active--;
    this.onRelease?.(this);
    if (this.active === 0 && this.onIdle) this.onIdle();
  }

  snapshot(): BackendSnapshot {
    return Object.freeze({
      id: this.id,
      url: this.url.href,
      weight: this.weight,
      effectiveWeight: this.effectiveWeight,
      maxConnections: this.maxConnections,
      status: this.status,
      active: this.active,
      requests: this.requests,
      failures: this.failures,
      latencyMs: this.latencyMs,
    });
  }
}

function countSockets(sockets: NodeJS.ReadOnlyDict<unknown[]>): number {
  let n = 0;
  for (const key in sockets) n += sockets[key]?.length ?? 0;
  return n;
}
