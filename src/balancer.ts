import { type IncomingMessage, ServerResponse, STATUS_CODES } from 'node:http';
import { type Duplex, Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import { type AdminHandler, type AdminOptions, createAdminHandler } from './admin/handler.js';
import { Breakers } from './breaker/breakers.js';
import { checkCacheOptions } from './cache/options.js';
import { type CacheAdmin, createResponseCache } from './cache/response-cache.js';
import { SharedMembership } from './cluster/membership.js';
import { checkClusterOptions } from './cluster/options.js';
import { connectRedis, type SharedRedis } from './cluster/redis.js';
import { createConfigurator, type SectionUpdaters } from './config/configure.js';
import {
  type BackendOptions,
  type BackendUpdate,
  backendOptionsSchema,
  backendUpdateSchema,
  type ConfigurePatch,
  type LoadBalancerOptions,
  type ResolvedOptions,
  replacedSections,
  resolveOptions,
  runtimeSections,
} from './config/options.js';
import { parseOptions } from './config/zod.js';
import { parseDuration } from './duration.js';
import { ConfigError, type ErrorCode, makeError, SwitchyardError } from './errors.js';
import { type EventName, Events, type Listener } from './events.js';
import { clientParseError } from './forward/client-error.js';
import { consumedBody } from './forward/consumed-body.js';
import { Forwarder, sendResponse } from './forward/forwarder.js';
import { type ForwardingInfo, upstreamRequestHeaders } from './forward/headers.js';
import { resolveTarget } from './forward/request-target.js';
import { compileTrust, normalizeAddress, resolveClientAddress, type TrustFn } from './forward/trust-proxy.js';
import { HealthChecker } from './health/checker.js';
import { OutlierDetector } from './health/outlier.js';
import { createMetricsHandler, type MetricsHandler } from './metrics/handler.js';
import { BalancerMetrics, type MetricsSource, poolStats } from './metrics/metrics.js';
import type { BalancerStats } from './metrics/stats.js';
import { circuitBreaker } from './middleware/circuit-breaker.js';
import { forward } from './middleware/forward.js';
import { retry } from './middleware/retry.js';
import { select } from './middleware/select.js';
import { logTo } from './observability/logger.js';
import { requestId } from './observability/request-id.js';
import { type ProxyTrace, proxyTrace } from './observability/traceparent.js';
import { AdaptiveLimit, createLimiter } from './overload/adaptive-limit.js';
import { WaitQueue } from './overload/wait-queue.js';
import { buildPipeline, type Pipeline } from './pipeline/build.js';
import { compose, type NamedMiddleware } from './pipeline/compose.js';
import { Context, type PendingResponse } from './pipeline/context.js';
import { Backend, type BackendSnapshot } from './pool/backend.js';
import { Pool } from './pool/pool.js';
import { slowStartWeight } from './pool/slow-start.js';
import { type RateLimitStage, rateLimit } from './rate-limit/middleware.js';
import { RetryBudget } from './retry/budget.js';
import { hasBody } from './retry/request-body.js';
import type { RolloutOptions } from './rollout/options.js';
import {
  type RollbackResult,
  type RolloutHost,
  RolloutManager,
  type RolloutResult,
  type RolloutStatus,
} from './rollout/rollout.js';
import { checkStickyOptions } from './sticky/options.js';
import { createSessionStore, stickySession } from './sticky/sticky-session.js';
import { createStrategy } from './strategies/index.js';
import type { SelectionContext } from './strategies/strategy.js';

/** Options of `removeBackend`. */
export interface RemoveOptions {
  /** Let in-flight requests finish first (new ones go elsewhere at once). @default true */
  drain?: boolean;
  /** Longest wait for in-flight requests; then their connections are closed. @default the balancer's `drainTimeout` */
  timeout?: number | string;
}

/** What `removeBackend` reports once the backend is gone. */
export interface RemoveResult {
  backend: BackendSnapshot;
  /** True when the drain timeout passed with requests still in flight. */
  timedOut: boolean;
  /** Requests cut off when the timeout passed. */
  abandoned: number;
}

/** Express-style middleware. */
export type ExpressMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** The part of a Koa context the balancer needs. */
export interface KoaContextLike {
  req: IncomingMessage;
  res: ServerResponse;
  respond?: boolean;
}

/** Koa-style middleware. */
export type KoaMiddleware = (ctx: KoaContextLike, next: () => Promise<unknown>) => Promise<void>;

/**
 * A load balancer: mount {@link handler} on any Node HTTP server (or
 * {@link express}/{@link koa}), manage backends at run time, listen to events,
 * and {@link close} it when done.
 */
export interface LoadBalancer {
  /** `(req, res)` handler for `http.createServer`. Resolves when the response is over. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** `'upgrade'` listener for WebSocket and other upgrades: `server.on('upgrade', lb.upgrade)`. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * Express middleware. Mounted under a path (`app.use('/api', lb.express())`)
   * the backend sees the path below the mount point; pass
   * `{ keepMountPath: true }` to forward the full original URL.
   */
  express(options?: { keepMountPath?: boolean }): ExpressMiddleware;
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
   * if (result.status !== 'completed') log.warn(result.reason);
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
  /** The running rollout, or else the last one (`undefined` before the first). */
  rolloutStatus(): RolloutStatus | undefined;
  /**
   * The admin API as a `(req, res)` handler: backends, config, rollouts,
   * health and metrics over JSON, behind `Authorization: Bearer <token>`.
   * Throws `ConfigError` without a token (the API is off unless you give one).
   *
   * @example
   * ```ts
   * app.use('/admin', lb.admin({ token: process.env.ADMIN_TOKEN }));
   * ```
   */
  admin(options: AdminOptions): AdminHandler;
  /** Names of the middleware in the pipeline, in order. */
  readonly pipeline: readonly string[];
  /** The response cache (`purge`, `stats`); `undefined` unless the `cache` option is on. */
  readonly cache: CacheAdmin | undefined;
  /** The resolved, frozen configuration. */
  readonly config: Readonly<ResolvedOptions>;
  on<E extends EventName>(event: E, listener: Listener<E>): this;
  once<E extends EventName>(event: E, listener: Listener<E>): this;
  off<E extends EventName>(event: E, listener: Listener<E>): this;
  /** Stops taking requests (503 `ERR_CLOSED`), waits for in-flight ones up to `drainTimeout`, releases sockets. */
  close(): Promise<void>;
}

/** Options holding objects the caller owns and keeps using: never frozen, even when plain objects. */
const CALLER_OWNED = new Set(['logger', 'registry', 'client', 'strategy', 'limiter']);

function deepFreeze<T>(value: T): T {
  // Only plain data: a user's registry, logger or Redis client must stay usable.
  const proto = value && typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (value && (proto === Object.prototype || proto === null || Array.isArray(value)) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) {
      if (!CALLER_OWNED.has(key)) deepFreeze((value as Record<string, unknown>)[key]);
    }
  }
  return value;
}

const defaultNow = () => performance.now();
const NO_BACKENDS: ReadonlySet<Backend> = new Set();

/**
 * Builds a load balancer. Options are validated here: a bad one throws a
 * {@link ConfigError} naming the option path, the value and what was expected.
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import { createLoadBalancer } from 'switchyard';
 *
 * const lb = createLoadBalancer({
 *   backends: [{ url: 'http://10.0.0.1:8080' }, { url: 'http://10.0.0.2:8080', weight: 2 }],
 * });
 * const server = http.createServer(lb.handler);
 * server.on('upgrade', lb.upgrade);
 * server.listen(8080);
 * ```
 */
export function createLoadBalancer(options: LoadBalancerOptions = {}): LoadBalancer {
  let config = resolveOptions(options);
  checkStickyOptions(config.sticky, config.redis !== undefined);
  checkCacheOptions(config.cache, config.redis !== undefined);
  checkClusterOptions(config.cluster, config.redis !== undefined);
  if (config.hedge !== false && config.retry === false) {
    throw new ConfigError(
      'hedge',
      config.hedge,
      'retry enabled too: hedges follow its methods and are charged to its budget',
    );
  }
  const now = config.now ?? defaultNow;
  const random = config.random ?? Math.random;
  let strategy = createStrategy<Backend>(config.strategy, { random });
  const slowStart = config.slowStart;
  const effectiveWeight = slowStart
    ? (b: Backend) => (b.warmingSince > 0 ? slowStartWeight(b.weight, now() - b.warmingSince, slowStart) : b.weight)
    : undefined;
  const events = new Events();
  const pool = new Pool(strategy, now);
  const trust: TrustFn = compileTrust(config.trustProxy);
  const forwarder = new Forwarder({ timeouts: config.timeouts, via: config.via, now });

  let closed = false;
  let inflight = 0;
  let onQuiet: (() => void) | undefined;

  // Observability: metrics and logs listen to events; ids are stamped on each request.
  // Built before anything that holds a socket or a timer: a ConfigError here leaks nothing.
  const source: MetricsSource = {
    backends: () => pool.all(),
    backend: (id) => pool.get(id),
    inflight: () => inflight,
    now,
  };
  const metrics = config.metrics === false ? undefined : new BalancerMetrics(config.metrics, source);
  metrics?.subscribe(events);

  // Overload protection: a wait queue for saturated pools, adaptive per-backend limits.
  const queue =
    config.queue === false
      ? undefined
      : new WaitQueue(config.queue, { events, now, available: (t) => pool.candidates(NO_BACKENDS, t) });
  const offer = queue ? (backend: Backend) => queue.offer(backend) : undefined;
  if (queue) pool.onChanged = () => queue.wake();
  const adaptive = config.adaptiveConcurrency;
  // What each backend was made from, so a rollback can make it again (transport included).
  const backendInputs = new WeakMap<Backend, BackendOptions>();

  function makeBackend(input: BackendOptions, path: string): Backend {
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
    const backend = new Backend({
      id,
      url,
      weight: parsed.weight ?? 1,
      maxConnections: parsed.maxConnections ?? Number.POSITIVE_INFINITY,
      agent: forwarder.createAgent(url, config.connectionPool, parsed.createConnection),
      effectiveWeight,
    });
    backendInputs.set(backend, parsed);
    backend.onRelease = offer;
    if (adaptive !== false) {
      backend.limiter = new AdaptiveLimit(createLimiter(adaptive, id, random), (limit, previous) => {
        events.emit('limit:changed', { backend: id, limit, previous });
        if (limit > previous) queue?.wake();
      });
    }
    return backend;
  }

  config.backends.forEach((input, i) => {
    pool.add(makeBackend(input as BackendOptions, `backends[${i}]`));
  });
  // Connected only once every option has passed: a ConfigError must not leave a socket open.
  const redis: SharedRedis | undefined = config.redis ? connectRedis(config.redis, events) : undefined;

  let limits: RateLimitStage | undefined = config.rateLimit
    ? rateLimit(config.rateLimit, { events, now, redis })
    : undefined;

  // Sticky sessions and the response cache: off unless configured.
  const sessions = config.sticky ? createSessionStore(config.sticky, redis, now) : undefined;
  const responseCache = config.cache ? createResponseCache(config.cache, { events, now, redis }) : undefined;

  let retryOptions = config.retry;
  // Kept across pipeline rebuilds: only new budget settings replace it.
  let retryBudget = retryOptions !== false && retryOptions.budget ? new RetryBudget(retryOptions.budget) : undefined;

  // --- resilience (issue #4): health checks, outlier detection, panic threshold, breakers ---
  const outliers = new OutlierDetector({ pool, events, now });
  const breakers = new Breakers({ pool, events, now });
  // A passing check is evidence of recovery: it ends an ejection and an open breaker's wait (Envoy, HAProxy).
  const health = new HealthChecker({
    pool,
    events,
    now,
    random,
    onPass: (backend, startedAt) => {
      outliers.checkPassed(backend, startedAt);
      breakers.checkPassed(backend, startedAt);
    },
  });
  pool.panicThreshold = config.panicThreshold;
  outliers.configure(config.outlierDetection);
  breakers.configure(config.circuitBreaker);
  health.configure(config.healthCheck);
  const updaters: SectionUpdaters<typeof runtimeSections> = {
    healthCheck: (settings) => health.configure(settings),
    outlierDetection: (settings) => {
      const toggled = outliers.enabled !== (settings !== false);
      outliers.configure(settings);
      if (toggled) pipeline = buildChain();
    },
    circuitBreaker: (settings) => {
      const toggled = breakers.enabled !== (settings !== false);
      breakers.configure(settings);
      if (toggled) pipeline = buildChain();
    },
    panicThreshold: (percent) => {
      pool.panicThreshold = percent;
    },
    // --- run-time strategy, retry and rate-limit changes (issue #6) ---
    strategy: (option) => {
      // Not closed: in-flight requests of the old chain may still pick with it (built-in ones hold no timers).
      strategy = createStrategy<Backend>(option, { random });
      pool.strategy = strategy;
      pipeline = buildChain();
    },
    retry: (settings) => {
      const before = retryOptions === false ? false : retryOptions.budget;
      const after = settings === false ? false : settings.budget;
      if (JSON.stringify(before) !== JSON.stringify(after)) {
        retryBudget = after ? new RetryBudget(after) : undefined;
      }
      retryOptions = settings;
      pipeline = buildChain();
    },
    rateLimit: (settings) => {
      const previous = limits;
      limits = settings ? rateLimit(settings, { events, now, redis }) : undefined;
      pipeline = buildChain();
      previous?.close().catch(() => {});
    },
  };
  const configure = createConfigurator(
    runtimeSections,
    updaters,
    options,
    (resolved) => {
      config = deepFreeze({ ...config, ...resolved });
    },
    {
      replace: replacedSections,
      check: (resolved) => {
        if (resolved.retry === false && config.hedge !== false) {
          throw new ConfigError('retry', false, 'retry options while hedge is on (hedges are retries)');
        }
      },
    },
  );

  let upgradePolicies: ((ctx: Context, last: () => Promise<void>) => Promise<void>) | undefined;
  // Rebuilt only when a feature with a stage is turned on or off at run time.
  const buildChain = (): Pipeline => {
    const retrySettings = retryOptions;
    const budget = retryBudget;
    const sticky = config.sticky
      ? stickySession(config.sticky, { backend: (id) => pool.get(id), events, trust, store: sessions })
      : undefined;
    // Upgrade requests (WebSockets) pass the client-facing policies too: rate limits and stickiness.
    const policies: NamedMiddleware[] = [];
    if (limits) policies.push({ name: 'rate-limit', handle: limits.middleware });
    if (sticky) policies.push({ name: 'sticky-session', handle: sticky });
    upgradePolicies = policies.length > 0 ? compose(policies) : undefined;
    return buildPipeline(
      {
        'rate-limit': limits?.middleware,
        'sticky-session': sticky,
        cache: responseCache?.middleware,
        select: select(pool, strategy, now, queue),
        'circuit-breaker': breakers.enabled ? circuitBreaker(breakers) : undefined,
        forward: forward(forwarder, strategy, events, {
          preserveHost: config.preserveHost,
          now,
          observer: outliers.enabled ? outliers : undefined,
        }),
      },
      config.middleware,
      retrySettings === false
        ? undefined
        : (bracket) =>
            retry(retrySettings, config.hedge, bracket, {
              events,
              random,
              now,
              // With a queue, a retry may wait for a backend at its limit; without, it needs a free one.
              canRetry: queue ? (ctx) => pool.hasUntried(ctx.tried) : (ctx) => pool.candidates(ctx.tried).length > 0,
              canHedge: (ctx) => pool.candidates(ctx.tried).length > 0,
              budget,
            }),
    );
  };
  let pipeline: Pipeline = buildChain();

  if (config.logger) logTo(events, config.logger, config.logLevel);
  const idHeader = config.requestId === false ? undefined : config.requestId.header;
  const tracing = config.tracing !== false && config.tracing.propagate;
  const metricsHandler = createMetricsHandler({
    registry: metrics?.registry,
    stats: () => (metrics ? metrics.stats() : poolStats(source)),
    token: config.metrics === false ? undefined : config.metrics.token,
  });
  // The admin API serves metrics behind its own token.
  const adminMetrics = metrics
    ? createMetricsHandler({ registry: metrics.registry, stats: () => metrics.stats(), token: undefined })
    : undefined;

  /**
   * Returns the request id to the client (over any the backend echoed). Set on
   * the response's headers, not with res.setHeader, which would send Node's
   * writeHead down its slow path for every header.
   */
  function tagResponse(ctx: Context): void {
    const response = ctx.response;
    if (idHeader === undefined || !response) return;
    if (Object.isFrozen(response.headers)) response.headers = { ...response.headers, [idHeader]: ctx.requestId };
    else response.headers[idHeader] = ctx.requestId;
  }

  /** Puts the request id and trace context on the upstream headers. */
  function stamp(headers: Record<string, string | string[]>, id: string | undefined, trace: ProxyTrace | undefined) {
    if (idHeader !== undefined) headers[idHeader] = id as string;
    if (trace) {
      headers.traceparent = trace.header;
      // W3C Trace Context: a new trace does not carry the old vendor state.
      if (!trace.continued) delete headers.tracestate;
    }
  }

  function forwardingInfo(req: IncomingMessage, upgrade: boolean, authority: string): ForwardingInfo {
    const peer = normalizeAddress(req.socket.remoteAddress ?? '');
    return {
      authority,
      peer,
      trusted: trust(peer, 0),
      proto: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
      via: config.via,
      upgrade,
    };
  }

  function sendError(ctx: Context, error: SwitchyardError): void {
    const res = ctx.res;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    ctx.reply(error.status ?? 500, error.toClientJSON(), { 'cache-control': 'no-store' });
    tagResponse(ctx);
    sendResponse(res, ctx.response as NonNullable<Context['response']>, () => {});
  }

  /**
   * A middleware before the balancer read the body (`express.json()`): send
   * the parsed body again, with its own Content-Length, or refuse at once:
   * the backend must never wait for bytes that will not come.
   */
  function replayConsumedBody(ctx: Context, headers: Record<string, string | string[]>): void {
    const bytes = consumedBody(ctx.req);
    if (bytes === undefined) {
      throw makeError(
        'ERR_BODY_CONSUMED',
        'the request body was already read by a middleware mounted before the balancer, and is not JSON or form data it could send again: mount body parsers after the balancer, or only on the routes that need them',
      );
    }
    delete headers['transfer-encoding'];
    headers['content-length'] = String(bytes.length);
    ctx.requestBody = () =>
      new Readable({
        read() {
          this.push(bytes);
          this.push(null);
        },
      });
  }

  function toSwitchyardError(error: unknown): SwitchyardError {
    if (error instanceof SwitchyardError) return error;
    const name = error instanceof Error ? error.message : String(error);
    return makeError('ERR_MIDDLEWARE', `a middleware failed: ${name}`, error);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
    const start = now();
    const clientAddress = resolveClientAddress(req, trust);
    const target = resolveTarget(url, req.headers.host);
    const ctx = new Context(req, res, typeof target === 'string' ? '/' : target.path, clientAddress, start);
    if (typeof target !== 'string') ctx.authority = target.authority;
    if (config.timeouts.total !== undefined) ctx.deadline = start + config.timeouts.total;
    if (idHeader !== undefined) ctx.requestId = requestId(req.headers[idHeader]);
    const trace = tracing ? proxyTrace(req.headers.traceparent) : undefined;
    if (trace) {
      ctx.traceId = trace.traceId;
      ctx.spanId = trace.spanId;
    }
    inflight++;
    let errorCode: SwitchyardError['code'] | undefined;
    const finished = new Promise<void>((resolve) => {
      res.once('close', () => {
        inflight--;
        if (inflight === 0 && onQuiet) onQuiet();
        if (events.has('request')) {
          const complete = res.writableFinished;
          const query = ctx.path.indexOf('?');
          // A body Node's parser rejected: the client got Node's own 400, not an abort.
          const malformed = !complete && clientParseError(req) !== undefined;
          events.emit('request', {
            method: ctx.method,
            host: ctx.authority,
            path: query === -1 ? ctx.path : ctx.path.slice(0, query),
            requestId: ctx.requestId,
            traceId: ctx.traceId,
            backend: ctx.backend?.id,
            status: complete ? res.statusCode : malformed ? 400 : 499,
            durationMs: now() - start,
            attempts: ctx.attempt,
            ...(errorCode === undefined && ctx.code === undefined && complete
              ? {}
              : { error: errorCode ?? ctx.code ?? (malformed ? 'ERR_BAD_REQUEST' : 'ERR_CLIENT_ABORTED') }),
          });
        }
        resolve();
      });
    });
    try {
      if (closed) throw makeError('ERR_CLOSED', 'the load balancer is shutting down');
      if (typeof target === 'string') throw makeError('ERR_BAD_REQUEST', target);
      const headers = upstreamRequestHeaders(req, forwardingInfo(req, false, target.authority));
      if (headers instanceof SwitchyardError) throw headers;
      if (req.readableEnded && hasBody(req)) replayConsumedBody(ctx, headers);
      stamp(headers, ctx.requestId, trace);
      ctx.upstreamHeaders = headers;
      await pipeline.run(ctx);
      if (!ctx.response) throw makeError('ERR_INTERNAL', 'the pipeline finished without a response');
      tagResponse(ctx);
      sendResponse(res, ctx.response, (error) => {
        errorCode = error instanceof SwitchyardError ? error.code : 'ERR_UPSTREAM_ABORTED';
      });
    } catch (error) {
      const failure = toSwitchyardError(error);
      errorCode = failure.code;
      sendError(ctx, failure);
    }
    return finished;
  }

  const handler = (req: IncomingMessage, res: ServerResponse): Promise<void> => handle(req, res, req.url ?? '/');

  /** Answers an upgrade request on its raw socket (no tunnel) and closes it. */
  function refuseUpgrade(socket: Duplex, response: PendingResponse, error: ErrorCode | undefined): void {
    events.emit('upgrade', { backend: undefined, ok: false, ...(error === undefined ? {} : { error }) });
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = Buffer.isBuffer(response.body) ? response.body : Buffer.alloc(0);
    let head = `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}\r\n`;
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined || name === 'content-length' || name === 'connection') continue;
      for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
    }
    socket.end(
      Buffer.concat([Buffer.from(`${head}content-length: ${body.length}\r\nconnection: close\r\n\r\n`), body]),
    );
  }

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // A socket error before the tunnel is up must not reach the process.
    socket.on('error', () => {});
    const refuse = (status: number, error: SwitchyardError) => {
      const body = Buffer.from(JSON.stringify(error.toClientJSON()));
      refuseUpgrade(socket, { status, headers: { 'content-type': 'application/json' }, body }, error.code);
    };
    if (closed) {
      refuse(503, makeError('ERR_CLOSED', 'the load balancer is shutting down'));
      return;
    }
    const target = resolveTarget(req.url ?? '/', req.headers.host);
    if (typeof target === 'string') {
      refuse(400, makeError('ERR_BAD_REQUEST', target));
      return;
    }
    if (hasBody(req)) {
      // Node hands an upgrade request's body to nobody: it would reach the
      // backend as the start of the next request on that connection.
      refuse(400, makeError('ERR_BAD_REQUEST', 'an upgrade request may not carry a body'));
      return;
    }
    const headers = upstreamRequestHeaders(req, forwardingInfo(req, true, target.authority));
    if (headers instanceof SwitchyardError) {
      refuse(400, headers);
      return;
    }
    const clientAddress = resolveClientAddress(req, trust);
    const open = (backend: Backend) => {
      stamp(
        headers,
        idHeader === undefined ? undefined : requestId(req.headers[idHeader]),
        tracing ? proxyTrace(req.headers.traceparent) : undefined,
      );
      forwarder.upgrade(req, socket, head, backend, headers, target.path, (error) => {
        events.emit(
          'upgrade',
          error ? { backend: backend.id, ok: false, error: 'ERR_UPSTREAM_CONNECT' } : { backend: backend.id, ok: true },
        );
      });
    };
    const choose = (selection: SelectionContext, preferred: Backend | undefined): Backend | undefined => {
      const candidates = pool.candidates(NO_BACKENDS, selection.now);
      if (candidates.length === 0) return undefined;
      return preferred !== undefined && candidates.includes(preferred)
        ? preferred
        : strategy.pick(candidates, selection);
    };
    const noBackend = () => refuse(503, makeError('ERR_NO_BACKEND', 'no backend is available to take this request'));
    const policies = upgradePolicies;
    if (!policies) {
      const backend = choose({ req, clientAddress, now: now(), attempt: 1 }, undefined);
      if (backend) open(backend);
      else noBackend();
      return;
    }
    // Rate limits and sticky sessions see the upgrade as a request: a WebSocket
    // handshake is no way around a limit, and a session keeps its backend.
    const ctx = new Context(req, new ServerResponse(req), target.path, clientAddress, now());
    ctx.authority = target.authority;
    ctx.upstreamHeaders = headers;
    ctx.attempt = 1;
    policies(ctx, async () => {
      ctx.backend = choose(ctx, ctx.preferred);
      if (ctx.backend) ctx.tried.add(ctx.backend);
    }).then(
      () => {
        if (ctx.backend) open(ctx.backend);
        else if (ctx.response) refuseUpgrade(socket, ctx.response, ctx.code);
        else noBackend();
      },
      (error: unknown) => refuse(500, makeError('ERR_INTERNAL', `an upgrade policy failed: ${String(error)}`)),
    );
  };

  function addBackend(input: BackendOptions): BackendSnapshot {
    try {
      return join(input, 'backend', false).snapshot();
    } catch (error) {
      if (error instanceof ConfigError && error.path === 'backend.id') {
        throw makeError('ERR_DUPLICATE_BACKEND', `a backend with id ${String(error.value)} already exists`);
      }
      throw error;
    }
  }

  /** Adds a backend; a `pending` one takes no traffic until active health checks pass (rollouts). */
  function join(input: BackendOptions, path: string, pending: boolean): Backend {
    if (closed) throw makeError('ERR_CLOSED', 'the load balancer is closed');
    const backend = makeBackend(input, path);
    backend.warmingSince = now();
    if (pending) backend.unhealthy = true;
    pool.add(backend);
    breakers.add(backend);
    health.add(backend);
    events.emit('backend:added', { backend: backend.snapshot() });
    share('add', backend, pending);
    return backend;
  }

  function find(id: string): Backend {
    const backend = pool.get(id);
    if (!backend) throw makeError('ERR_BACKEND_NOT_FOUND', `no backend with id ${JSON.stringify(id)}`);
    return backend;
  }

  function updateBackend(id: string, input: BackendUpdate): BackendSnapshot {
    const backend = find(id);
    const update = parseOptions(backendUpdateSchema, input, 'update');
    const previous = backend.snapshot();
    if (update.weight !== undefined) backend.weight = update.weight;
    if (update.maxConnections !== undefined) backend.maxConnections = update.maxConnections;
    pool.changed(true);
    const snapshot = backend.snapshot();
    events.emit('backend:updated', { backend: snapshot, previous });
    share('update', backend);
    return snapshot;
  }

  async function removeBackend(id: string, removeOptions: RemoveOptions = {}): Promise<RemoveResult> {
    const backend = find(id);
    const drain = removeOptions.drain ?? true;
    const timeout =
      removeOptions.timeout === undefined ? config.drainTimeout : parseDuration(removeOptions.timeout, 'timeout');
    if (!backend.draining) {
      share('remove', backend);
      backend.draining = true;
      health.remove(backend);
      pool.changed(true);
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
    forget(backend);
    backend.agent.destroy();
    pool.delete(backend);
    const snapshot = backend.snapshot();
    events.emit('backend:removed', { backend: snapshot });
    return { backend: snapshot, timedOut, abandoned };
  }

  /** Stops the per-backend resilience machinery of a backend that leaves. */
  function forget(backend: Backend): void {
    health.remove(backend);
    breakers.remove(backend);
    outliers.remove(backend);
  }

  // --- rollouts and the admin API (issue #6) ---
  const rolloutHost: RolloutHost = {
    events,
    now,
    random,
    backends: () => pool.all(),
    get: (id) => pool.get(id),
    optionsOf(backend) {
      const input = backendInputs.get(backend);
      return {
        id: backend.id,
        url: input?.url ?? backend.url.href,
        weight: backend.weight,
        ...(Number.isFinite(backend.maxConnections) ? { maxConnections: backend.maxConnections } : {}),
        ...(input?.createConnection ? { createConnection: input.createConnection } : {}),
      };
    },
    add: (input, pending) => join(input, 'rollout.backend', pending),
    update: (id, update) => {
      updateBackend(id, update);
    },
    remove: (id, timeout) => removeBackend(id, { drain: true, timeout }),
    healthChecks: () => health.settings !== false,
  };
  const rollouts = new RolloutManager(rolloutHost);

  // --- shared membership (cluster): local changes go out, remote ones come in through join/update/remove ---
  let remote = false;
  const sharedOf = (b: Backend) => {
    const { createConnection, ...shared } = rolloutHost.optionsOf(b);
    return createConnection === undefined ? { ...shared, url: b.url.href, weight: b.weight } : undefined;
  };
  const applyRemote = (change: () => unknown) => {
    remote = true;
    try {
      change();
    } finally {
      remote = false;
    }
  };
  const cluster = config.cluster;
  const membership =
    redis && cluster !== false && cluster.membership
      ? new SharedMembership({
          redis,
          channel: cluster.channel,
          events,
          host: {
            shared: () => pool.all().flatMap((b) => (b.draining ? [] : (sharedOf(b) ?? []))),
            localOnly: (id) => {
              const b = pool.get(id);
              return b !== undefined && sharedOf(b) === undefined;
            },
            add: (b, pending) => applyRemote(() => join(b, 'cluster.backend', pending && health.settings !== false)),
            update: (b) =>
              applyRemote(() =>
                updateBackend(b.id, { weight: b.weight, maxConnections: b.maxConnections ?? Infinity }),
              ),
            remove: (id) => applyRemote(() => removeBackend(id, { drain: true }).catch(() => {})),
          },
        })
      : undefined;
  membership?.start();
  /** Publishes a local change of a shareable backend (never one applied from another instance). */
  function share(op: 'add' | 'update' | 'remove', backend: Backend, pending = false): void {
    if (!membership || remote) return;
    const shared = sharedOf(backend);
    if (shared) membership.changed(op, shared, pending);
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await membership?.close();
    rollouts.close();
    queue?.close();
    health.close();
    if (inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.drainTimeout);
        onQuiet = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    breakers.close();
    outliers.close();
    for (const backend of pool.all()) {
      backend.agent.destroy();
      pool.delete(backend);
    }
    strategy.close?.();
    forwarder.close();
    await limits?.close();
    sessions?.close();
    await responseCache?.close();
    await redis?.close();
    metrics?.close(events);
    events.emit('closed', {});
    events.removeAll();
  }

  const lb: LoadBalancer = {
    handler,
    upgrade,
    express({ keepMountPath = false } = {}) {
      return function switchyard(req, res, next) {
        const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl;
        const url = keepMountPath && original ? original : (req.url ?? '/');
        handle(req, res, url).catch(next);
      };
    },
    koa() {
      return async function switchyard(ctx) {
        ctx.respond = false;
        await handle(ctx.req, ctx.res, ctx.req.url ?? '/');
      };
    },
    addBackend,
    updateBackend,
    removeBackend,
    backends: () => pool.all().map((b) => b.snapshot()),
    configure,
    async rollout(input) {
      return rollouts.start(input).done;
    },
    async rollback() {
      return rollouts.startRollback().done;
    },
    rolloutStatus: () => rollouts.status(),
    admin: (adminOptions) => createAdminHandler({ lb, rollouts, metrics: adminMetrics }, adminOptions),
    get pipeline() {
      return pipeline.names;
    },
    cache: responseCache?.admin,
    get config() {
      return deepFreeze(config);
    },
    metricsHandler,
    metricsRegistry: metrics?.registry,
    stats: () => (metrics ? metrics.stats() : poolStats(source)),
    on(event, listener) {
      events.on(event, listener);
      return lb;
    },
    once(event, listener) {
      events.once(event, listener);
      return lb;
    },
    off(event, listener) {
      events.off(event, listener);
      return lb;
    },
    close,
  };
  return lb;
}
