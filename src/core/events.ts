import process from 'node:process';
import type { BackendSnapshot } from './backend.js';
import type { ErrorCode } from './errors.js';

/** Why a request is retried on another backend. */
export type RetryReason = 'connect-failure' | 'reset' | 'timeout' | 'status';

/**
 * Every event a balancer emits, mapped to its payload. `lb.on` and `lb.off`
 * are typed from this map.
 *
 * @example
 * ```ts
 * lb.on('request', ({ backend, status, durationMs }) => log(backend, status, durationMs));
 * ```
 */
export interface SwitchyardEvents {
  /** A backend joined the pool through `addBackend`. */
  'backend:added': { backend: BackendSnapshot };
  /** A backend's weight or limits changed through `updateBackend` (or a rollout). */
  'backend:updated': { backend: BackendSnapshot; previous: BackendSnapshot };
  /** Active health checks now pass: the backend takes traffic again (through slow start). */
  'backend:healthy': { backend: BackendSnapshot; reason: string };
  /** Active health checks now fail (or the phi-accrual detector suspects it): no traffic. */
  'backend:unhealthy': { backend: BackendSnapshot; reason: string };
  /** One active health check finished (`status` when an answer came, `reason` when it failed). */
  'health:check': { backend: string; ok: boolean; status?: number; reason?: string; durationMs: number };
  /** Outlier detection took the backend out of rotation until `untilMs` (balancer clock). */
  'backend:ejected': {
    backend: BackendSnapshot;
    reason: 'consecutive-5xx' | 'consecutive-connect-failure' | 'success-rate';
    /** How many times it has been ejected, this time included. */
    ejections: number;
    /** Length of this ejection, in milliseconds. */
    durationMs: number;
  };
  /** An ejection ended: the backend is back in rotation (through slow start). */
  'backend:restored': { backend: BackendSnapshot };
  /** A backend stopped taking new requests and waits for its in-flight ones. */
  'backend:draining': { backend: BackendSnapshot };
  /** A draining backend has no request in flight any more, or its drain timed out. */
  'backend:drained': { backend: BackendSnapshot; timedOut: boolean; abandoned: number };
  /** A backend left the pool; its connections are closed. */
  'backend:removed': { backend: BackendSnapshot };
  /** A backend's circuit breaker opened: it gets no requests until `resetTimeout` passes. */
  'breaker:open': { backend: string };
  /** A backend's circuit breaker lets trial requests through. */
  'breaker:half-open': { backend: string };
  /** A backend's circuit breaker closed again: normal service. */
  'breaker:close': { backend: string };
  /** A backend's adaptive concurrency limit changed. */
  'limit:changed': { backend: string; limit: number; previous: number };
  /**
   * A request waited for, got, or was refused a slot at a backend at its
   * connection limit; `aborted` when it left the queue because its client went
   * away (or its hedge lost). `depth` is the queue length afterwards.
   */
  queue: { action: 'enqueued' | 'dequeued' | 'rejected' | 'timeout' | 'aborted'; depth: number };
  /** A hedged (speculative) attempt was sent to `backend`; `attempt` is its number among the request's tries. */
  hedge: { backend: string; attempt: number };
  /** A rate-limit decision. `key` is the client key (an IP, a header value...): do not use it as a metric label. */
  ratelimit: { allowed: boolean; limit: string; key: string; remaining: number; retryAfterMs?: number };
  /** A sticky-session decision: routed to the session's backend, started a new session, or fell back. */
  sticky: { result: 'hit' | 'new' | 'fallback' | 'rejected'; backend: string | undefined };
  /** A cache lookup. */
  cache: { result: 'hit' | 'miss' | 'coalesced' | 'bypass' | 'stored'; key: string; bytes?: number };
  /** A cache entry left the cache. */
  'cache:evict': { key: string; bytes: number; reason: 'lru' | 'expired' | 'bytes' | 'purge' | 'replaced' };
  /** A rollout began. */
  'rollout:started': { id: string; from: string[]; to: string[]; batches: number };
  /** A rollout batch passed its gate: `added` now take traffic, `removed` were drained. */
  'rollout:step': { id: string; batch: number; batches: number; added: string[]; removed: string[] };
  /** A rollout finished: only the new backends remain. */
  'rollout:completed': { id: string; durationMs: number };
  /** A rollout (or `rollback()`) restored the previous backend set. */
  'rollout:rolled-back': { id: string; reason: string };
  /** A rollout stopped without finishing and without rolling back (cancelled, or `autoRollback: false`). */
  'rollout:failed': { id: string; reason: string };
  /** An attempt to a backend failed (connect failure, reset, timeout, malformed response). */
  'upstream:error': {
    backend: string;
    attempt: number;
    code: ErrorCode;
    message: string;
    /** Code of the underlying failure when there is one (`ECONNREFUSED`, `ENOTFOUND`, `ECONNRESET`, `HPE_…`). */
    cause?: string;
    /** The system call that failed (`connect`, `getaddrinfo`, `read`...), when known. */
    syscall?: string;
  };
  /** An attempt got response headers from a backend (any status; a retried one too). */
  'upstream:response': {
    backend: string;
    attempt: number;
    status: number /** Time to response headers, ms. */;
    durationMs: number;
  };
  /** A request is sent again, to another backend. */
  retry: { backend: string; attempt: number; reason: RetryReason; status?: number; delayMs: number };
  /**
   * A request finished: the client got its whole response, or the exchange
   * ended early. One per client request, after the last byte or the abort.
   */
  request: {
    /** Request method, as the client sent it. */
    method: string;
    /**
     * The request's one effective authority (validated `Host`, or an
     * absolute-form target's), lower-cased: the one the backend and the cache
     * key saw. Empty when the client sent none (HTTP/1.0) or it was invalid.
     */
    host?: string;
    /** Request path without the query string (which may carry secrets). Never use it as a metric label. */
    path: string;
    /** The request id (`requestId` option) sent upstream and returned to the client. */
    requestId?: string;
    /** W3C trace id sent upstream (`tracing` option). */
    traceId?: string;
    /** Id of the backend that served the last attempt; `undefined` when none was reached. */
    backend: string | undefined;
    /** Status sent to the client (499 when the client went away first). */
    status: number;
    /** From the first byte of the request to the last byte of the response, in milliseconds. */
    durationMs: number;
    /** How many backends were tried. */
    attempts: number;
    /** Error code when the balancer, not a backend, produced the response or the exchange broke. */
    error?: ErrorCode;
    /**
     * A gRPC call's failure status (`grpc-status` other than `OK`), trailers-only
     * or in the trailers after messages, the backend's or the balancer's own
     * answer; unset for `OK` and for anything that is not gRPC.
     */
    grpcStatus?: number;
  };
  /** The WebSocket (or other upgrade) tunnel to a backend opened or failed. */
  upgrade: { backend: string | undefined; ok: boolean; error?: ErrorCode };
  /** The shared Redis connection changed state. Features fall back to memory (or their configured policy) while it is down. */
  redis: { state: 'ready' | 'error' | 'end'; message?: string };
  /**
   * This instance loaded a shared membership set other than the one it knew:
   * Redis lost the set (restart without persistence, FLUSHALL, failover) and
   * it was re-created, by this instance (`seeded`) or another.
   */
  'cluster:resync': { epoch: string; seeded: boolean };
  /**
   * Another instance published a change of the shared rollout (shared
   * rollouts): `rolloutStatus()` here shows it from now on.
   */
  'cluster:rollout': { id: string; status: string; phase: string; driver: string };
  /** The number of live balancer instances on this Redis and prefix changed (the cluster registry). */
  'cluster:instances': { live: number };
  /**
   * The cluster-wide health view of a backend changed: `down` when at least
   * `quorum` live instances see it down (this instance then treats it as down
   * too), up again when fewer do.
   */
  'cluster:health': { backend: string; down: boolean; votes: number; quorum: number };
  /** The balancer stopped: checks stopped, requests drained, sockets released. */
  closed: Record<string, never>;
}

/** Name of a switchyard event. */
export type EventName = keyof SwitchyardEvents;

/** Options of `Events.on` and `Events.once`. */
export interface SubscribeOptions {
  /** Aborting it unsubscribes the listener. */
  readonly signal?: AbortSignal | undefined;
}

/** A listener for event `E`. */
export type Listener<E extends EventName> = (payload: SwitchyardEvents[E]) => void;

/** One subscription: the listener, and whether it goes after its first call. */
interface Subscription {
  readonly listener: (payload: unknown) => void;
  readonly once: boolean;
}

const NONE: readonly Subscription[] = [];

/**
 * The balancer's event emitter. Listener errors are caught and reported on
 * `process.emitWarning` so that a faulty listener cannot break a request,
 * and the event's other listeners still run.
 *
 * Each event keeps its listeners in an array that subscribing and
 * unsubscribing replace rather than change: `emit` walks the array it finds
 * without copying it, a listener added during an emit is first called by
 * the next one, and one removed during an emit is still called by it (as
 * with Node's `EventEmitter`). `has` and `emit` cost one `Map` lookup.
 */
export class Events {
  readonly #listeners = new Map<EventName, readonly Subscription[]>();

  /**
   * Subscribes `listener`; returns the function that unsubscribes it. With
   * `signal`, aborting it unsubscribes too: one controller ends every
   * subscription of a module, which then keeps no list of its own.
   *
   * @example
   * ```ts
   * const stop = new AbortController();
   * events.on('request', (event) => console.log(event.status), { signal: stop.signal });
   * const off = events.on('backend:added', (event) => console.log(event.backend.id));
   * off();
   * stop.abort();
   * ```
   */
  on<E extends EventName>(event: E, listener: Listener<E>, options?: SubscribeOptions): () => void {
    return this.#subscribe(event, listener as (payload: unknown) => void, false, options?.signal);
  }

  /** Like {@link on}, for the next occurrence only. */
  once<E extends EventName>(event: E, listener: Listener<E>, options?: SubscribeOptions): () => void {
    return this.#subscribe(event, listener as (payload: unknown) => void, true, options?.signal);
  }

  #subscribe(event: EventName, listener: (payload: unknown) => void, once: boolean, signal?: AbortSignal): () => void {
    if (signal?.aborted) return () => {};
    const subscription: Subscription = { listener, once };
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? NONE), subscription]);
    const off = () => {
      this.#drop(event, (s) => s === subscription);
      signal?.removeEventListener('abort', off);
    };
    signal?.addEventListener('abort', off, { once: true });
    return off;
  }

  /** Removes the last subscription of `event` that `matches`; false when there is none. */
  #drop(event: EventName, matches: (subscription: Subscription) => boolean): boolean {
    const list = this.#listeners.get(event);
    if (list === undefined) return false;
    for (let i = list.length - 1; i >= 0; i--) {
      if (!matches(list[i] as Subscription)) continue;
      if (list.length === 1) this.#listeners.delete(event);
      else this.#listeners.set(event, [...list.slice(0, i), ...list.slice(i + 1)]);
      return true;
    }
    return false;
  }

  /** Unsubscribes `listener` from `event` (its latest subscription, by `on` or `once`). */
  off<E extends EventName>(event: E, listener: Listener<E>): void {
    this.#drop(event, (s) => s.listener === listener);
  }

  /** True when someone listens, so callers can skip building a payload. */
  has(event: EventName): boolean {
    return this.#listeners.has(event);
  }

  emit<E extends EventName>(event: E, payload: SwitchyardEvents[E]): void {
    const list = this.#listeners.get(event);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      const subscription = list[i] as Subscription;
      // Called once only: gone before it runs, however it ends (and if it emits the same event).
      if (subscription.once && !this.#drop(event, (s) => s === subscription)) continue;
      try {
        subscription.listener(payload);
      } catch (error) {
        process.emitWarning(`switchyard: a '${event}' listener threw: ${String(error)}`, 'SwitchyardWarning');
      }
    }
  }

  removeAll(): void {
    this.#listeners.clear();
  }
}
