import { EventEmitter } from 'node:events';
import type { ErrorCode } from './errors.js';
import type { BackendSnapshot } from './pool/backend.js';

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
  /** A backend's weight or limits changed through `updateBackend`. */
  'backend:updated': { backend: BackendSnapshot; previous: BackendSnapshot };
  /** A backend stopped taking new requests and waits for its in-flight ones. */
  'backend:draining': { backend: BackendSnapshot };
  /** A draining backend has no request in flight any more, or its drain timed out. */
  'backend:drained': { backend: BackendSnapshot; timedOut: boolean; abandoned: number };
  /** A backend left the pool; its connections are closed. */
  'backend:removed': { backend: BackendSnapshot };
  /** An attempt to a backend failed (connect failure, reset, timeout, malformed response). */
  'upstream:error': { backend: string; attempt: number; code: ErrorCode; message: string };
  /** A request is sent again, to another backend. */
  retry: { backend: string; attempt: number; reason: RetryReason; status?: number; delayMs: number };
  /**
   * A request finished: the client got its whole response, or the exchange
   * ended early. One per client request, after the last byte or the abort.
   */
  request: {
    /** Request method, as the client sent it. */
    method: string;
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
  };
  /** The WebSocket (or other upgrade) tunnel to a backend opened or failed. */
  upgrade: { backend: string | undefined; ok: boolean; error?: ErrorCode };
  /** The balancer stopped: checks stopped, requests drained, sockets released. */
  closed: Record<string, never>;
}

/** Name of a switchyard event. */
export type EventName = keyof SwitchyardEvents;

/** A listener for event `E`. */
export type Listener<E extends EventName> = (payload: SwitchyardEvents[E]) => void;

/**
 * The balancer's event emitter. Listener errors are caught and reported on
 * `process.emitWarning` so that a faulty listener cannot break a request.
 */
export class Events {
  readonly #emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    // Many dashboards may listen; a leak warning here would be noise.
    this.#emitter.setMaxListeners(0);
  }

  on<E extends EventName>(event: E, listener: Listener<E>): void {
    this.#emitter.on(event, listener as (payload: unknown) => void);
  }

  once<E extends EventName>(event: E, listener: Listener<E>): void {
    this.#emitter.once(event, listener as (payload: unknown) => void);
  }

  off<E extends EventName>(event: E, listener: Listener<E>): void {
    this.#emitter.off(event, listener as (payload: unknown) => void);
  }

  /** True when someone listens, so callers can skip building a payload. */
  has(event: EventName): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }

  emit<E extends EventName>(event: E, payload: SwitchyardEvents[E]): void {
    if (this.#emitter.listenerCount(event) === 0) return;
    try {
      this.#emitter.emit(event, payload);
    } catch (error) {
      process.emitWarning(`switchyard: a '${event}' listener threw: ${String(error)}`, 'SwitchyardWarning');
    }
  }

  removeAll(): void {
    this.#emitter.removeAllListeners();
  }
}
