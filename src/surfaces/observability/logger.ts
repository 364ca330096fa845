import type { EventName, Events, SwitchyardEvents } from '../../core/events.js';

/**
 * What the balancer logs to: any pino-compatible logger, that is an object
 * whose `debug`, `info`, `warn` and `error` take `(obj, msg)`. pino, a pino
 * child, or a small adapter over `console` all fit.
 *
 * @example
 * ```ts
 * import { createLoadBalancer } from 'switchyard-lb';
 * import pino from 'pino';
 * createLoadBalancer({ backends, logger: pino(), logLevel: 'info' });
 * ```
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A log level the balancer uses. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The fields of the one line logged per request. */
export interface RequestLogLine {
  requestId: string | undefined;
  traceId: string | undefined;
  method: string;
  /** The effective authority the backend saw (see the `request` event's `host`). */
  host: string | undefined;
  /** Path without the query string (which may carry secrets). */
  path: string;
  backend: string | undefined;
  status: number;
  /** Milliseconds, rounded to the microsecond. */
  durationMs: number;
  attempts: number;
  error: string | undefined;
  /** A gRPC call's failure status, when it failed (see the `request` event's `grpcStatus`). */
  grpcStatus?: number;
}

type Lifecycle = {
  [E in EventName]?: [level: LogLevel | ((payload: SwitchyardEvents[E]) => LogLevel), message: string];
};

/** Balancer events worth a line of their own, at a fixed level. */
const LIFECYCLE: Lifecycle = {
  'backend:added': ['info', 'backend added'],
  'backend:updated': ['info', 'backend updated'],
  'backend:healthy': ['info', 'backend healthy'],
  'backend:unhealthy': ['warn', 'backend unhealthy'],
  'backend:ejected': ['warn', 'backend ejected'],
  'backend:restored': ['info', 'backend restored'],
  'backend:draining': ['info', 'backend draining'],
  'backend:drained': [(e) => (e.timedOut ? 'warn' : 'info'), 'backend drained'],
  'backend:removed': ['info', 'backend removed'],
  'breaker:open': ['warn', 'circuit breaker open'],
  'breaker:half-open': ['info', 'circuit breaker half-open'],
  'breaker:close': ['info', 'circuit breaker closed'],
  'rollout:started': ['info', 'rollout started'],
  'rollout:step': ['info', 'rollout step'],
  'rollout:completed': ['info', 'rollout completed'],
  'rollout:rolled-back': ['warn', 'rollout rolled back'],
  'rollout:failed': ['error', 'rollout failed'],
  redis: [(e) => (e.state === 'ready' ? 'info' : 'warn'), 'redis connection'],
  'upstream:error': ['debug', 'upstream attempt failed'],
  retry: ['debug', 'retrying on another backend'],
};

/** Snapshots carry live counters; a log line only needs which backend. */
function compact(payload: object): object {
  const backend = (payload as { backend?: unknown }).backend;
  if (backend && typeof backend === 'object' && 'id' in backend) {
    const { previous: _previous, ...rest } = payload as { previous?: unknown };
    return { ...rest, backend: (backend as { id: string }).id };
  }
  return payload;
}

/**
 * Logs one structured line per request (`msg: 'request'`) and one per
 * lifecycle event (backend health, ejections, breakers, rollouts, Redis).
 * A request that went well is logged at `level`; a 5xx at `error`; a request
 * cut short (client gone, upstream died mid-body) at `warn`. Returns a
 * function that stops logging.
 *
 * @example
 * ```ts
 * import { logTo } from './logger.js';
 * const stop = logTo(events, pino(), 'info');
 * ```
 */
export function logTo(events: Events, logger: Logger, level: LogLevel): () => void {
  const stop = new AbortController();
  const subscription = { signal: stop.signal };
  const onRequest = (e: SwitchyardEvents['request']) => {
    const line: RequestLogLine = {
      requestId: e.requestId,
      traceId: e.traceId,
      method: e.method,
      host: e.host,
      path: e.path,
      backend: e.backend,
      status: e.status,
      durationMs: Math.round(e.durationMs * 1000) / 1000,
      attempts: e.attempts,
      error: e.error,
      ...(e.grpcStatus === undefined ? {} : { grpcStatus: e.grpcStatus }),
    };
    const at = e.status >= 500 ? 'error' : e.error !== undefined ? 'warn' : level;
    logger[at](line, 'request');
  };
  events.on('request', onRequest, subscription);
  for (const [event, entry] of Object.entries(LIFECYCLE) as Array<[EventName, [unknown, string]]>) {
    const [at, message] = entry as [LogLevel | ((payload: object) => LogLevel), string];
    const listener = (payload: object) => {
      logger[typeof at === 'function' ? at(payload) : at](compact(payload), message);
    };
    events.on(event, listener, subscription);
  }
  return () => stop.abort();
}
