import type { IncomingMessage, ServerResponse } from 'node:http';
import { Backends as BackendLifecycle, type Backends } from './control/backends.js';
import { type ClusterServices, hostControl } from './control/cluster-glue.js';
import { createConfigurator } from './control/configure.js';
import type { ControlPlane } from './control/control-plane.js';
import { PipelineHost } from './control/pipeline-host.js';
import type { Backend } from './core/backend.js';
import { Events } from './core/events.js';
import { compileTrust } from './core/net/trust-proxy.js';
import { connectRedis } from './core/redis.js';
import type { LoadBalancer } from './load-balancer.js';
import { deepFreeze } from './options/freeze.js';
import {
  checkOptions,
  checkPatch,
  type LoadBalancerOptions,
  replacedSections,
  resolveOptions,
  runtimeSections,
} from './options/options.js';
import { Breakers } from './stages/circuit-breaker/breakers.js';
import type { StageDeps } from './stages/deps.js';
import { expressAdapter, koaAdapter, upgradeAtAdapter } from './surfaces/adapters.js';
import { createAdminHandler } from './surfaces/admin/handler.js';
import { connectDone, createConnectHandler } from './surfaces/extended-connect.js';
import { createRequestEntry } from './surfaces/http.js';
import { createMetricsHandler } from './surfaces/metrics/handler.js';
import { BalancerMetrics, type MetricsSource, poolStats } from './surfaces/metrics/metrics.js';
import { logTo } from './surfaces/observability/logger.js';
import { RequestMeta } from './surfaces/request-meta.js';
import { createRewrite } from './surfaces/rewrite.js';
import { createUpgradeHandler } from './surfaces/upgrade.js';
import { createForwarder } from './upstream/forwarder/create-forwarder.js';
import { HealthChecker } from './upstream/health/checker.js';
import { OutlierDetector } from './upstream/health/outlier.js';
import { WaitQueue } from './upstream/overload/wait-queue.js';
import type { BackendOptions } from './upstream/pool/options.js';
import { Pool } from './upstream/pool/pool.js';
import { createStrategy } from './upstream/strategies/index.js';

export type * from './load-balancer.js';

const defaultNow = () => performance.now();
const NO_BACKENDS: ReadonlySet<Backend> = new Set();

/**
 * Builds a load balancer. Options are validated here: a bad one throws a
 * {@link ConfigError} naming the option path, the value and what was expected.
 * This is the composition root: it makes each part and wires them together;
 * the parts live in `core/`, `upstream/`, `stages/`, `control/` and `surfaces/`.
 *
 * @example
 * ```ts
 * import http from 'node:http';
 * import { createLoadBalancer } from 'switchyard-lb';
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
  checkOptions(config);
  const now = config.now ?? defaultNow;
  const random = config.random ?? Math.random;
  let strategy = createStrategy<Backend>(config.strategy, { random });
  const events = new Events();
  const pool = new Pool(strategy, now);
  const trust = compileTrust(config.trustProxy);
  const forwarder = createForwarder(config.forwarder, { timeouts: config.timeouts, via: config.via, now });
  let closed = false;

  // Observability first: a ConfigError here leaks no socket or timer.
  const source: MetricsSource = {
    backends: () => pool.all(),
    backend: (id) => pool.get(id),
    inflight: () => entry.inflight(),
    now,
  };
  const metrics = config.metrics === false ? undefined : new BalancerMetrics(config.metrics, source);
  metrics?.subscribe(events);
  const stats = () => (metrics ? metrics.stats() : poolStats(source));

  // Upstream: the wait queue for saturated pools, the backends, the per-backend resilience machinery.
  const queue =
    config.queue === false
      ? undefined
      : new WaitQueue(config.queue, { events, now, available: (t) => pool.candidates(NO_BACKENDS, t) });
  if (queue) pool.onChanged = () => queue.wake();
  const outliers = new OutlierDetector({ pool, events, now });
  const breakers = new Breakers({ pool, events, now });
  // A passing check is evidence of recovery: it ends an ejection and an open breaker's wait (Envoy, HAProxy).
  const health = new HealthChecker({ pool, events, now, random, observers: [outliers, breakers] });
  const backends: Backends = new BackendLifecycle({
    ...{ pool, events, now, random, forwarder, health, breakers, outliers, queue },
    ...{ connectionPool: config.connectionPool, slowStart: config.slowStart, adaptive: config.adaptiveConcurrency },
    drainTimeout: config.drainTimeout,
    closed: () => closed,
  });
  config.backends.forEach((input, i) => {
    pool.add(backends.make(input as BackendOptions, `backends[${i}]`));
  });
  // Connected only once every option has passed: a ConfigError must not leave a socket open.
  const redis = config.redis ? connectRedis(config.redis, events) : undefined;
  pool.panicThreshold = config.panicThreshold;
  outliers.configure(config.outlierDetection);
  breakers.configure(config.circuitBreaker);
  health.configure(config.healthCheck);

  // The pipeline: every stage of STAGES, built from its section; run-time changes rebuild what they touch.
  let cluster: ClusterServices | undefined; // made with the control plane, below
  const instances = () => cluster?.instances() ?? 1;
  const stageDeps = (): StageDeps => ({
    ...{ events, now, random, redis, trust, pool, strategy, queue, forwarder, breakers, outliers, instances },
    ...{ hedge: config.hedge, preserveHost: config.preserveHost },
  });
  const host = new PipelineHost(config, stageDeps, config.middleware);
  const configure = createConfigurator(
    runtimeSections,
    {
      healthCheck: (settings) => health.configure(settings),
      outlierDetection: (settings) => outliers.configure(settings),
      circuitBreaker: (settings) => breakers.configure(settings),
      panicThreshold: (percent) => {
        pool.panicThreshold = percent;
      },
      strategy: (option) => {
        // Not closed: in-flight requests of the old chain may still pick with it (built-in ones hold no timers).
        strategy = createStrategy<Backend>(option, { random });
        pool.strategy = strategy;
      },
    },
    options,
    (resolved) => {
      config = deepFreeze({ ...config, ...resolved });
      host.apply(new Set(Object.keys(resolved)), config);
    },
    { replace: replacedSections, check: (resolved) => checkPatch(resolved, config) },
  );

  // Surfaces: requests, upgrades, metrics, logs, the admin API.
  const meta = new RequestMeta({
    idHeader: config.requestId === false ? undefined : config.requestId.header,
    tracing: config.tracing !== false && config.tracing.propagate,
    via: config.via,
    trust,
  });
  const rewrite = createRewrite(config.rewrite);
  const entry = createRequestEntry({
    ...{ events, now, trust, meta, rewrite, onError: config.onError, totalTimeout: config.timeouts.total },
    run: (ctx) => host.pipeline.run(ctx),
    closed: () => closed,
  });
  const upgradeDeps = { events, now, trust, meta, forwarder, rewrite, chain: () => host.upgrade, closed: () => closed };
  const upgrade = createUpgradeHandler(upgradeDeps);
  const connect = createConnectHandler(upgradeDeps); // RFC 8441: WebSockets over HTTP/2
  const stopLogging = config.logger ? logTo(events, config.logger, config.logLevel) : undefined;
  const metricsToken = config.metrics === false ? undefined : config.metrics.token;
  const metricsHandler = createMetricsHandler({ registry: metrics?.registry, stats, token: metricsToken });
  // The admin API serves metrics behind its own token.
  const adminMetrics = metrics
    ? createMetricsHandler({ registry: metrics.registry, stats: () => metrics.stats(), token: undefined })
    : undefined;

  // Control: rollouts and shared membership drive the backend lifecycle.
  cluster = hostControl({ redis, cluster: config.cluster, events, now, random, pool, backends, health });
  const rollouts = cluster.rollouts;
  const control: ControlPlane = {
    backends: () => pool.all().map((b) => b.snapshot()),
    addBackend: (input) => backends.add(input),
    updateBackend: (id, update) => backends.update(id, update),
    removeBackend: (id, removeOptions) => backends.remove(id, removeOptions),
    configure,
    get config() {
      return deepFreeze(config);
    },
    rollouts,
  };

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await cluster?.close();
    queue?.close();
    health.close();
    await entry.quiet(config.drainTimeout);
    breakers.close();
    outliers.close();
    await backends.removeAll();
    strategy.close?.();
    forwarder.close();
    await host.close();
    await redis?.close();
    metrics?.close(events);
    events.emit('closed', {});
    stopLogging?.();
    events.removeAll();
  }

  const lb: LoadBalancer = {
    handler: (req, res) =>
      req.method === 'CONNECT'
        ? connectDone(connect, req, res)
        : entry.handle(req as IncomingMessage, res as ServerResponse, req.url ?? '/'),
    upgrade: (req, socket, head) => upgrade(req, socket, head),
    connect: (req, res) => connect(req, res),
    upgradeAt: (mountPath, upgradeOptions) => upgradeAtAdapter(upgrade, mountPath, upgradeOptions),
    express: (adapterOptions) => expressAdapter(entry.handle, adapterOptions),
    koa: () => koaAdapter(entry.handle),
    addBackend: control.addBackend,
    updateBackend: control.updateBackend,
    removeBackend: control.removeBackend,
    backends: control.backends,
    configure,
    rollout: async (input) => rollouts.start(input).done,
    rollback: async () => rollouts.startRollback().done,
    cancelRollout: (reason) => rollouts.cancel(reason),
    rolloutStatus: () => rollouts.status(),
    admin: (adminOptions) => createAdminHandler({ control, events, metrics: adminMetrics }, adminOptions),
    get pipeline() {
      return host.pipeline.names;
    },
    cache: host.handle('cache').admin,
    get config() {
      return deepFreeze(config);
    },
    metricsHandler,
    metricsRegistry: metrics?.registry,
    stats,
    on: (event, listener) => events.on(event, listener),
    once: (event, listener) => events.once(event, listener),
    off(event, listener) {
      events.off(event, listener);
      return lb;
    },
    close,
  };
  return lb;
}
