import { Backend, type BackendSnapshot } from '../core/backend.js';
import { type Duration, parseDuration } from '../core/duration.js';
import { ConfigError, makeError } from '../core/errors.js';
import type { Events } from '../core/events.js';
import { parseOptions } from '../core/zod.js';
import type { Breakers } from '../stages/circuit-breaker/breakers.js';
import { http2SessionsOf } from '../upstream/forwarder/http2-upstream.js';
import type { ResolvedConnectionPoolOptions } from '../upstream/forwarder/options.js';
import type { UpstreamForwarder } from '../upstream/forwarder/upstream-forwarder.js';
import { upstreamTls } from '../upstream/forwarder/upstream-tls.js';
import type { HealthChecker } from '../upstream/health/checker.js';
import type { OutlierDetector } from '../upstream/health/outlier.js';
import { AdaptiveLimit, createLimiter } from '../upstream/overload/adaptive-limit.js';
import type { ResolvedAdaptiveConcurrencyOptions } from '../upstream/overload/options.js';
import type { WaitQueue } from '../upstream/overload/wait-queue.js';
import {
  type BackendOptions,
  type BackendUpdate,
  backendOptionsSchema,
  backendUpdateSchema,
} from '../upstream/pool/options.js';
import type { Pool } from '../upstream/pool/pool.js';
import { type ResolvedSlowStartOptions, slowStartWeight } from '../upstream/pool/slow-start.js';

/** Options of `removeBackend`. */
export interface RemoveOptions {
  /** Let in-flight requests finish first (new ones go elsewhere at once). @default true */
  drain?: boolean;
  /** Longest wait for in-flight requests; then their connections are closed. @default the balancer's `drainTimeout` */
  timeout?: Duration;
}

/** What `removeBackend` reports once the backend is gone. */
export interface RemoveResult {
  backend: BackendSnapshot;
  /** True when the drain timeout passed with requests still in flight. */
  timedOut: boolean;
  /** Requests cut off when the timeout passed. */
  abandoned: number;
}

/** A change of a backend another instance may want to hear of (see `control/cluster-glue.ts`). */
export type BackendChange = 'add' | 'update' | 'remove';

/** What the backend lifecycle drives. */
export interface BackendsDeps {
  readonly pool: Pool;
  readonly events: Events;
  readonly now: () => number;
  readonly random: () => number;
  readonly forwarder: UpstreamForwarder;
  readonly health: HealthChecker;
  readonly breakers: Breakers;
  readonly outliers: OutlierDetector;
  readonly queue: WaitQueue | undefined;
  readonly connectionPool: ResolvedConnectionPoolOptions;
  readonly slowStart: ResolvedSlowStartOptions | false;
  readonly adaptive: ResolvedAdaptiveConcurrencyOptions | false;
  readonly drainTimeout: number;
  /** True once the balancer is closing: no backend may join. */
  readonly closed: () => boolean;
}

/**
 * The backend lifecycle: makes backends from options, adds them to the pool
 * and to the per-backend machinery (health checks, breakers, outlier
 * detection), updates them, drains and removes them. Every state change
 * goes through the pool; `onChange` hears of each local change (the
 * cluster glue shares it).
 *
 * @example
 * ```ts
 * import { Backends } from './backends.js';
 * declare const deps: import('./backends.js').BackendsDeps;
 * const backends = new Backends(deps);
 * backends.add({ url: 'http://10.0.0.3:8080' });
 * await backends.remove('10.0.0.3:8080', { drain: true });
 * ```
 */
export class Backends {
  readonly #deps: BackendsDeps;
  /** What each backend was made from, so a rollback can make it again (transport included). */
  readonly #inputs = new WeakMap<Backend, BackendOptions>();
  readonly #effectiveWeight: ((b: Backend) => number) | undefined;
  /** Hears of every local change of a backend. */
  onChange: ((op: BackendChange, backend: Backend, pending: boolean) => void) | undefined;

  constructor(deps: BackendsDeps) {
    this.#deps = deps;
    const { slowStart, now } = deps;
    this.#effectiveWeight = slowStart
      ? (b) => (b.warmingSince > 0 ? slowStartWeight(b.weight, now() - b.warmingSince, slowStart) : b.weight)
      : undefined;
  }

  /** Makes a backend from options (validated under `path`) without adding it anywhere. */
  make(input: BackendOptions, path: string): Backend {
    const { pool, forwarder, connectionPool, adaptive, events, queue, random } = this.#deps;
    const parsed = parseOptions(backendOptionsSchema, input, path);
    const url = new URL(parsed.url);
    const id = parsed.id ?? url.host;
    if (pool.get(id)) {
      throw new ConfigError(
        `${path}.id`,
        id,
        'an id no other backend uses (give backends with the same host an explicit id)',
      );
    }
    const tls = upstreamTls(parsed.tls, path);
    const backend = new Backend({
      id,
      url,
      weight: parsed.weight ?? 1,
      maxConnections: parsed.maxConnections ?? Number.POSITIVE_INFINITY,
      agent: forwarder.createAgent(url, connectionPool, parsed.createConnection, tls, parsed.protocol),
      dispatcher: () => forwarder.createDispatcher(url, connectionPool, parsed.createConnection, tls, parsed.protocol),
      effectiveWeight: this.#effectiveWeight,
    });
    const h2 = http2SessionsOf(backend.agent);
    if (h2) {
      // The peer's SETTINGS_MAX_CONCURRENT_STREAMS caps the backend's in-flight requests.
      h2.onStreamLimit = (limit) => {
        backend.streamLimit = limit;
        pool.changed(true);
      };
    }
    this.#inputs.set(backend, parsed);
    if (queue) backend.onRelease = (b) => queue.offer(b);
    if (adaptive !== false) {
      backend.limiter = new AdaptiveLimit(createLimiter(adaptive, id, random), (limit, previous) => {
        events.emit('limit:changed', { backend: id, limit, previous });
        if (limit > previous) queue?.wake();
      });
    }
    return backend;
  }

  /** The options a backend was made from. */
  inputOf(backend: Backend): BackendOptions | undefined {
    return this.#inputs.get(backend);
  }

  /** `lb.addBackend`: a taken id is `ERR_DUPLICATE_BACKEND`. */
  add(input: BackendOptions): BackendSnapshot {
    try {
      return this.join(input, 'backend', false).snapshot();
    } catch (error) {
      if (error instanceof ConfigError && error.path === 'backend.id') {
        throw makeError('ERR_DUPLICATE_BACKEND', `a backend with id ${String(error.value)} already exists`);
      }
      throw error;
    }
  }

  /** Adds a backend; a `pending` one takes no traffic until active health checks pass (rollouts). */
  join(input: BackendOptions, path: string, pending: boolean): Backend {
    const { pool, breakers, health, events, now } = this.#deps;
    if (this.#deps.closed()) throw makeError('ERR_CLOSED', 'the load balancer is closed');
    const backend = this.make(input, path);
    backend.warmingSince = now();
    pool.add(backend, pending ? { unhealthy: true } : undefined);
    breakers.add(backend);
    health.add(backend);
    events.emit('backend:added', { backend: backend.snapshot() });
    this.onChange?.('add', backend, pending);
    return backend;
  }

  find(id: string): Backend {
    const backend = this.#deps.pool.get(id);
    if (!backend) throw makeError('ERR_BACKEND_NOT_FOUND', `no backend with id ${JSON.stringify(id)}`);
    return backend;
  }

  /** `lb.updateBackend`. */
  update(id: string, input: BackendUpdate): BackendSnapshot {
    const backend = this.find(id);
    const update = parseOptions(backendUpdateSchema, input, 'update');
    const previous = backend.snapshot();
    this.#deps.pool.resize(backend, update);
    const snapshot = backend.snapshot();
    this.#deps.events.emit('backend:updated', { backend: snapshot, previous });
    this.onChange?.('update', backend, false);
    return snapshot;
  }

  /** `lb.removeBackend`. */
  async remove(id: string, options: RemoveOptions = {}): Promise<RemoveResult> {
    const { pool, health, events } = this.#deps;
    const backend = this.find(id);
    const drain = options.drain ?? true;
    const timeout = options.timeout === undefined ? this.#deps.drainTimeout : parseDuration(options.timeout, 'timeout');
    if (!backend.draining) {
      this.onChange?.('remove', backend, false);
      health.remove(backend);
      pool.mark(backend, { draining: true });
      events.emit('backend:draining', { backend: backend.snapshot() });
    }
    let timedOut = false;
    if (drain && backend.active > 0) {
      timedOut = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), timeout);
        backend.onIdle = () => {
          clearTimeout(timer);
          resolve(false);
        };
      });
      backend.onIdle = undefined;
    }
    const abandoned = backend.active;
    const drained = backend.snapshot();
    events.emit('backend:drained', { backend: drained, timedOut, abandoned });
    this.#forget(backend);
    void destroyConnections(backend);
    pool.delete(backend);
    const snapshot = backend.snapshot();
    events.emit('backend:removed', { backend: snapshot });
    return { backend: snapshot, timedOut, abandoned };
  }

  /** Every backend leaves (on close): sockets released; resolves once undici's pools are closed. */
  async removeAll(): Promise<void> {
    const { pool } = this.#deps;
    const closing: Promise<void>[] = [];
    for (const backend of pool.all()) {
      closing.push(destroyConnections(backend));
      pool.delete(backend);
    }
    await Promise.all(closing);
  }

  /** Stops the per-backend resilience machinery of a backend that leaves. */
  #forget(backend: Backend): void {
    const { health, breakers, outliers } = this.#deps;
    health.remove(backend);
    breakers.remove(backend);
    outliers.remove(backend);
  }
}

/** Closes a backend's agent and its undici pool; resolves when the pool's sockets are gone. */
function destroyConnections(backend: Backend): Promise<void> {
  backend.agent.destroy();
  return backend.closeDispatcher();
}
