import type { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import type { RemoveOptions, RemoveResult } from './control/backends.js';
import type { RolloutOptions } from './control/rollout/options.js';
import type { RollbackResult, RolloutResult, RolloutStatus } from './control/rollout/rollout.js';
import type { BackendSnapshot } from './core/backend.js';
import type { EventName, Listener } from './core/events.js';
import type { ConfigurePatch, ResolvedOptions } from './options/options.js';
import type { CacheAdmin } from './stages/cache/response-cache.js';
import type { ExpressMiddleware, ExpressOptions, KoaMiddleware, UpgradeAtOptions } from './surfaces/adapters.js';
import type { AdminHandler, AdminOptions } from './surfaces/admin/handler.js';
import type { MetricsHandler } from './surfaces/metrics/handler.js';
import type { BalancerStats } from './surfaces/metrics/stats.js';
import type { BackendOptions, BackendUpdate } from './upstream/pool/options.js';

export type { RemoveOptions, RemoveResult } from './control/backends.js';
export type {
  ExpressMiddleware,
  ExpressOptions,
  KoaContextLike,
  KoaMiddleware,
  UpgradeAtOptions,
} from './surfaces/adapters.js';

/**
 * A load balancer: mount {@link handler} on any Node HTTP server (or
 * {@link express}/{@link koa}), manage backends at run time, listen to events,
 * and {@link close} it when done.
 */
export interface LoadBalancer {
  /**
   * `(req, res)` handler for `http.createServer`, `https.createServer`, and
   * `http2.createServer`/`http2.createSecureServer` (with or without
   * `allowHTTP1`; see docs/http2.md). Resolves when the response is over.
   */
  readonly handler: (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ) => Promise<void>;
  /** `'upgrade'` listener for WebSocket and other upgrades: `server.on('upgrade', lb.upgrade)`. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * `'connect'` listener of an HTTP/2 server, for WebSockets over HTTP/2
   * (RFC 8441 extended CONNECT, `:protocol websocket`; the server needs
   * `settings: { enableConnectProtocol: true }`): `server.on('connect', lb.connect)`.
   * The WebSocket goes through the upgrade pipeline and reaches the backend
   * as an HTTP/1.1 upgrade. Any other CONNECT, and an HTTP/1.1 CONNECT on an
   * `allowHTTP1` server, gets 501 `ERR_NOT_IMPLEMENTED`. See docs/http2.md.
   *
   * @example
   * ```ts
   * declare const key: Buffer, cert: Buffer;
   * const h2 = http2.createSecureServer({ key, cert, settings: { enableConnectProtocol: true } }, lb.handler);
   * h2.on('connect', lb.connect);
   * ```
   */
  readonly connect: (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse | Duplex,
    head?: Buffer,
  ) => void;
  /**
   * Express middleware. Mounted under a path (`app.use('/api', lb.express())`)
   * the backend sees the path below the mount point; pass
   * `{ keepMountPath: true }` to forward the full original URL.
   */
  express(options?: ExpressOptions): ExpressMiddleware;
  /**
   * An `'upgrade'` listener for a balancer mounted under `mountPath`
   * (`app.use('/api', lb.express())`): Express never sees upgrades, so this
   * takes the upgrade requests under `mountPath` (whole segments), strips it
   * as `express()` does, and leaves every other upgrade untouched for the
   * server's other `'upgrade'` listeners.
   *
   * @example
   * ```ts
   * app.use('/api', lb.express());
   * const server = app.listen(8080);
   * server.on('upgrade', lb.upgradeAt('/api'));
   * ```
   */
  upgradeAt(
    mountPath: string,
    options?: UpgradeAtOptions,
  ): (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Koa middleware: the balancer writes the response itself (`ctx.respond = false`). */
  koa(): KoaMiddleware;
  /** Adds a backend; throws `ConfigError` on bad options, `ERR_DUPLICATE_BACKEND` on a taken id. */
  addBackend(options: BackendOptions): BackendSnapshot;
  /** Changes a backend's weight or connection limit. */
  updateBackend(id: string, update: BackendUpdate): BackendSnapshot;
  /** Removes a backend: no new requests at once; with `drain` (default) in-flight ones finish first. */
  removeBackend(id: string, options?: RemoveOptions): Promise<RemoveResult>;
  /** Read-only snapshots of every backend, with live stats. */
  backends(): BackendSnapshot[];
  /**
   * Changes options at run time: `healthCheck`, `outlierDetection`,
   * `circuitBreaker`, `panicThreshold`, `strategy`, `retry`, `rateLimit`.
   * Validated like at build time (a bad patch throws `ConfigError` and
   * changes nothing); a section given as an object is merged into its current
   * options (`strategy` and `rateLimit` are replaced whole), `false` turns it off.
   *
   * @example
   * ```ts
   * lb.configure({ healthCheck: { interval: '1s' }, circuitBreaker: false, strategy: 'least-connections' });
   * ```
   */
  configure(patch: ConfigurePatch): void;
  /**
   * `(req, res)` handler serving the Prometheus metrics (text format), or
   * {@link stats} as JSON at `?format=json`. Requires
   * `Authorization: Bearer <metrics.token>` when a token is set; 404 with `metrics: false`.
   */
  readonly metricsHandler: MetricsHandler;
  /** The prom-client Registry holding this balancer's metrics (to merge or serve yourself); unset with `metrics: false`. */
  readonly metricsRegistry: Registry | undefined;
  /** JSON summary: request counts and p50/p95/p99 latency, overall and per backend. */
  stats(): BalancerStats;
  /**
   * Moves traffic to a new backend set in batches: each batch of new
   * backends joins (after passing active health checks, when on), must keep
   * its error rate and latency under `healthGate` for `interval`, then about
   * as many old backends are drained and removed. A failed gate stops the
   * rollout and, with `autoRollback` (default), restores the previous set.
   * Rejects at once with `ConfigError` or `ERR_ROLLOUT_IN_PROGRESS`; otherwise
   * resolves (never rejects) with how it ended.
   *
   * @example
   * ```ts
   * const result = await lb.rollout({ backends: v2, batchSize: 1, interval: '30s', healthGate: { maxErrorRate: 0.01 } });
   * if (result.status !== 'completed') console.warn(result.reason);
   * ```
   */
  rollout(options: RolloutOptions): Promise<RolloutResult>;
  /**
   * Restores the set that was live before the last rollout (completed or
   * not): re-adds its backends, drains and removes the rollout's. Rejects
   * with `ERR_NO_ROLLOUT` when there is nothing to roll back,
   * `ERR_ROLLOUT_IN_PROGRESS` while a rollout runs.
   *
   * @example
   * ```ts
   * await lb.rollback();
   * ```
   */
  rollback(): Promise<RollbackResult>;
  /**
   * Cancels the running rollout (it rolls back when `autoRollback`); with
   * shared rollouts (`cluster`), one driven by another instance too (the
   * request is sent to it). False when none runs.
   *
   * @example
   * ```ts
   * if (!lb.cancelRollout('bad canary')) console.log('no rollout running');
   * ```
   */
  cancelRollout(reason?: string): boolean;
  /**
   * The running rollout, or else the last one (`undefined` before the first).
   * With shared rollouts (`cluster`), the same on every instance, whichever
   * drives it.
   */
  rolloutStatus(): RolloutStatus | undefined;
  /**
   * The admin API as a `(req, res)` handler: backends, config, rollouts,
   * health and metrics over JSON, behind `Authorization: Bearer <token>`.
   * Throws `ConfigError` without a token (the API is off unless you give one).
   *
   * @example
   * ```ts
   * app.use('/admin', lb.admin({ token }));
   * ```
   */
  admin(options: AdminOptions): AdminHandler;
  /** Names of the middleware in the pipeline, in order. */
  readonly pipeline: readonly string[];
  /** The response cache (`purge`, `stats`); `undefined` unless the `cache` option is on. */
  readonly cache: CacheAdmin | undefined;
  /** The resolved, frozen configuration. */
  readonly config: Readonly<ResolvedOptions>;
  /**
   * Subscribes to an event; returns a function that unsubscribes.
   *
   * @example
   * ```ts
   * const off = lb.on('backend:unhealthy', ({ backend, reason }) => console.warn(backend.id, reason));
   * off();
   * ```
   */
  on<E extends EventName>(event: E, listener: Listener<E>): () => void;
  /** Subscribes to the next occurrence of an event only; returns a function that unsubscribes. */
  once<E extends EventName>(event: E, listener: Listener<E>): () => void;
  /** Unsubscribes a listener given to {@link on} or {@link once}. */
  off<E extends EventName>(event: E, listener: Listener<E>): this;
  /** Stops taking requests (503 `ERR_CLOSED`), waits for in-flight ones up to `drainTimeout`, releases sockets. */
  close(): Promise<void>;
}
